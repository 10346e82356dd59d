"""The argparse value checks (faceid.cli.argtypes) against hand-picked valid and invalid values."""

from __future__ import annotations

import argparse

import pytest

from faceid.cli.argtypes import (
    cosine,
    loss_name,
    network_name,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)

CASES = [
    (positive_int, {"1": 1, "32": 32}, ["0", "-1", "1.5", "nan", "", "two"]),
    (non_negative_int, {"0": 0, "7": 7}, ["-1", "0.5", "x"]),
    (positive_float, {"0.5": 0.5, "3": 3.0}, ["0", "-2", "inf", "nan", "x"]),
    (probability, {"0": 0.0, "0.75": 0.75, "1": 1.0}, ["5", "-0.1", "1.01", "nan", "x"]),
    (cosine, {"-1": -1.0, "0.4": 0.4, "1": 1.0}, ["1.5", "-1.01", "nan", "x"]),
]


@pytest.mark.parametrize(("check", "valid", "invalid"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_number_checks(check, valid: dict, invalid: list[str]) -> None:
    for text, value in valid.items():
        assert check(text) == value and type(check(text)) is type(value)
    for text in invalid:
        with pytest.raises(argparse.ArgumentTypeError, match=rf"expected .*, got {text!r}"):
            check(text)


def test_name_checks_accept_registered_names_and_list_them_otherwise() -> None:
    from faceid.models import list_models

    assert network_name("iresnet50") == "iresnet50" and network_name("FresResNet50") == "FresResNet50"
    with pytest.raises(argparse.ArgumentTypeError, match="unknown network 'resnet9000'") as info:
        network_name("resnet9000")
    assert all(name in str(info.value) for name in list_models())
    assert loss_name("CosFace") == "CosFace" and loss_name("1,0.5,0,64") == "1,0.5,0,64"
    for bad in ("Triplet", "1,2", "0,0.5,0,64"):  # unknown name, too few numbers, m1 = 0
        with pytest.raises(argparse.ArgumentTypeError, match="unknown loss"):
            loss_name(bad)
