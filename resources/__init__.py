"""Dagster resources: where things are stored, which models run, where runs are logged."""

from resources.face_models import FaceModelsResource
from resources.home import vcn_home
from resources.media import MediaLibraryResource
from resources.warehouse import WarehouseResource

__all__ = ["FaceModelsResource", "MediaLibraryResource", "WarehouseResource", "vcn_home"]
