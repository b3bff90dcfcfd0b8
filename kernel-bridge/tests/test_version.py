import cusprun


def test_python_version_matches_package_json(package_json):
    assert cusprun.__version__ == package_json["version"]
