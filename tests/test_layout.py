"""The house rules, checked on the source: arrows run one way, only public Dagster, one name for the code
location, every package installed, one version, and commands that only read stay light."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import videoclusternet
from vcn_dagster import CODE_LOCATION

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# Folder -> the name it installs as (pyproject.toml's package-dir).
INSTALLED_AS = {"videoclusternet": "videoclusternet", "vcn_dagster": "vcn_dagster", "assets": "vcn_assets"}
INSTALLED_AS["resources"] = "vcn_resources"


def _imports(folder: str) -> dict[Path, set[str]]:
    """Every module under a folder -> the modules it imports (absolute names)."""
    found = {}
    for path in (REPO / folder).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[path.relative_to(REPO)] = names
    return found


def test_arrows_run_one_way():
    """library <- resources <- assets <- code location: nothing below `vcn_dagster` imports it, the library
    imports neither Dagster nor the product's layers, resources import no asset."""
    above = {
        "videoclusternet": ("vcn_dagster", "vcn_assets", "vcn_resources", "dagster"),
        "resources": ("vcn_dagster", "vcn_assets"),
        "assets": ("vcn_dagster",),
    }
    wrong = [
        f"{path} imports {name}"
        for folder, forbidden in above.items()
        for path, names in _imports(folder).items()
        for name in names
        if name.split(".")[0] in forbidden
    ]
    assert not wrong


def test_production_code_uses_public_dagster_only():
    private = [
        f"{path} imports {name}"
        for folder in INSTALLED_AS
        for path, names in _imports(folder).items()
        for name in names
        if name.startswith("dagster._") or (name.startswith("dagster_") and "._" in name)
    ]
    assert not private


def test_one_name_for_the_code_location():
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    names = {entry["python_module"]["location_name"] for entry in workspace["load_from"]}
    assert names == {CODE_LOCATION} == {PYPROJECT["tool"]["dagster"]["code_location_name"]}


def test_every_package_folder_is_installed_under_its_name():
    packages = set(PYPROJECT["tool"]["setuptools"]["packages"])
    folders = {
        ".".join([INSTALLED_AS[init.parent.relative_to(REPO).parts[0]], *init.parent.relative_to(REPO).parts[1:]])
        for folder in INSTALLED_AS
        for init in (REPO / folder).rglob("__init__.py")
    }
    data = set(PYPROJECT["tool"]["setuptools"]["package-data"])  # folders of templates and static files
    assert packages == folders | data
    mapped = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert mapped == {name: folder for folder, name in INSTALLED_AS.items() if name != folder}


def test_one_version():
    assert importlib.metadata.version("videoclusternet") == videoclusternet.__version__


def test_reading_commands_load_neither_dagster_nor_a_model_runtime(tmp_path: Path):
    """`vcn titles`, `vcn sql` and `vcn export` of an unknown title: what they import, asked in the process."""
    code = (
        "import sys, json\n"
        "from vcn_dagster.cli import main\n"
        "for argv in (['titles'], ['sql', 'SELECT count(*) FROM titles'], ['export', 'nosuch']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        print(exc.code, file=sys.stderr)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = {**os.environ, "VCN_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    loaded = set(json.loads(run.stdout.splitlines()[-1]))
    assert not loaded & {"torch", "onnxruntime", "openvino", "dagster", "mlflow", "cv2", "insightface"}
    assert "vcn export: 'nosuch' is neither a title nor a season" in run.stderr


def test_the_code_location_loads_without_what_only_some_steps_need():
    """Every `vcn run` and every UI run worker loads the definitions: onnx (folding models, once), scikit-learn
    (scoring against truth) and torch (adaptation) cost seconds of start-up and are imported where used."""
    modules = "sorted({m.split('.')[0] for m in sys.modules})"
    code = f"import sys, json, vcn_dagster.definitions\nprint(json.dumps({modules}))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(run.stdout.splitlines()[-1]))
    assert not loaded & {"onnx", "sklearn", "torch", "mlflow", "insightface", "openvino"}


def test_every_stage_says_what_it_makes():
    """`retract_below` removes what the stages below a starting one made: every result table is some stage's."""
    from vcn_resources.warehouse import RESULT_TABLES, STAGE_OUTPUTS
    from videoclusternet.stages import STAGE_NAMES

    assert list(STAGE_OUTPUTS) == list(STAGE_NAMES)
    assert sorted(t for tables, _ in STAGE_OUTPUTS.values() for t in tables) == sorted(RESULT_TABLES)


def test_the_cli_offers_every_clusterer():
    # The CLI keeps its own list, so that `vcn --help` need not import the clustering library.
    from vcn_dagster.cli import CLUSTERER_NAMES
    from videoclusternet.clustering import AUTO, CLUSTERERS

    assert sorted(CLUSTERER_NAMES) == sorted((AUTO, *CLUSTERERS))
