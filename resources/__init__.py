"""Dagster resources: where things are stored, which models run, where runs are logged."""

from resources.face_models import FaceModelsResource
from resources.home import vcn_home
from resources.media import MediaLibraryResource
from resources.tracking import DeviceResource, MlflowResource
from resources.warehouse import WarehouseResource

__all__ = [
    "DeviceResource",
    "FaceModelsResource",
    "MediaLibraryResource",
    "MlflowResource",
    "WarehouseResource",
    "vcn_home",
]
