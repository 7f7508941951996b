import pytest

from videoclusternet.titles import season_of, title_key_from_filename, validate_title_key


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Show.Name.S01E03.mkv", "show_name.s01e03"),
        ("show_name_s01e03.mp4", "show_name.s01e03"),
        ("Show Name - 1x03.mkv", "show_name.s01e03"),
        ("/media/drop/The.Office.s2e11.720p.mkv", "the_office.s02e11"),
        ("Holiday Special (1978).mp4", "holiday_special_1978"),
    ],
)
def test_title_key_from_filename(name, key):
    assert title_key_from_filename(name) == key
    assert validate_title_key(key) == key


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "a,b", "Show", "a\nb", "x" * 81, "_hidden"])
def test_unsafe_keys_rejected(bad):
    with pytest.raises(ValueError, match="title key"):
        validate_title_key(bad)


def test_unnameable_file_asks_for_a_title():
    with pytest.raises(ValueError, match="--title"):
        title_key_from_filename("/media/¿¿¿.mp4")


def test_season_of():
    assert season_of("show.s01e03") == "show.s01"
    assert season_of("film") is None
