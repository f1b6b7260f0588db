"""The import contracts (setup.cfg, checked by `lint-imports` in CI) cover the modules they are about."""

import configparser
from pathlib import Path

import weightcast

ROOT = Path(__file__).resolve().parents[1]


def _contract(name):
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config[f"importlinter:contract:{name}"]


def test_the_io_contract_lists_every_io_module():
    """`io knows no package` is checked module by module (as_packages = False): a new io module must be added."""
    listed = set(_contract("io-knows-no-package")["source_modules"].split())
    io_dir = Path(weightcast.__file__).parent / "io"
    modules = {"weightcast.io"} | {f"weightcast.io.{p.stem}" for p in io_dir.glob("*.py") if p.stem != "__init__"}
    assert listed == modules


def test_every_top_level_module_is_in_a_layer():
    layers = _contract("layers")["layers"].replace("|", " ").replace(":", " ").replace("(", " ").replace(")", " ")
    listed = set(layers.split())
    package = Path(weightcast.__file__).parent
    top = {f"weightcast.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    top |= {f"weightcast.{p.name}" for p in package.iterdir() if (p / "__init__.py").exists()}
    assert top <= listed, sorted(top - listed)
