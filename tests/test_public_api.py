import datatwin


def test_all_is_sorted_and_complete():
    assert datatwin.__all__ == sorted(datatwin.__all__)
    public = {n for n in dir(datatwin) if not n.startswith("_") and n not in ("cli", "engines", "evaluation")}
    modules = {n for n in public if type(getattr(datatwin, n)).__name__ == "module"}
    assert public - modules == set(datatwin.__all__) - {"__version__"}


def test_exception_tree():
    for name in ("InputError", "MetadataError", "ConditionError", "ModelFileError", "NotFittedError", "OutputError"):
        assert issubclass(getattr(datatwin, name), datatwin.DatatwinError)
    assert issubclass(datatwin.InputError, ValueError)
    assert issubclass(datatwin.NotFittedError, AttributeError)
    assert issubclass(datatwin.OutputError, OSError)
