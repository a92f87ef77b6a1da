"""The checkpoint-writing fixtures shared with the family tests (``tests/models/conftest.py``)."""

from tests.models.conftest import (  # noqa: F401
    FOREIGN,
    Conv,
    fake_modules,
    make_model,
    save_foreign,
    ultra_ckpt,
    write_torch_zip,
)
