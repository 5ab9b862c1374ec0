"""Our messages in Telegram's terms: escaped HTML within 4,096 characters, keyboards whose
buttons carry short tokens, the location button, photos after the text."""

from __future__ import annotations

import html
import re

from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove

from adapters.telegram.render import MAX_TEXT, SHARE_LOCATION, pieces, render_pieces, to_html
from bot.messages import Choice, Link, Outgoing

TAGS = re.compile(r"</?b>")


def plain(piece: str) -> str:
    return html.unescape(TAGS.sub("", piece))


def test_text_is_escaped_and_our_bold_and_bullets_are_kept() -> None:
    said = to_html("**Call 911** if <b>anyone</b> is hurt & scared\n- first\n-not a bullet")
    assert said == "<b>Call 911</b> if &lt;b&gt;anyone&lt;/b&gt; is hurt &amp; scared\n• first\n-not a bullet"


def test_long_text_is_cut_into_pieces_that_keep_every_word_in_order() -> None:
    text = "Intro line\n\n" + " ".join(f"**w{n}** & <x>" for n in range(2500)) + "\nlast line"
    parts = render_pieces(text)
    assert len(parts) > 1 and all(len(p) <= MAX_TEXT for p in parts)
    for p in parts:  # every piece is whole HTML: its tags balance
        assert p.count("<b>") == p.count("</b>")
    joined = " ".join(plain(p) for p in parts).split()
    assert joined == html.unescape(TAGS.sub("", to_html(text))).split()


def test_a_word_longer_than_a_message_is_cut_and_nothing_is_lost() -> None:
    word = "&" * 9000  # each becomes "&amp;": 45,000 characters of HTML
    parts = render_pieces(word)
    assert all(len(p) <= MAX_TEXT for p in parts)
    assert "".join(plain(p) for p in parts) == word


def test_choices_are_an_inline_keyboard_of_short_tokens_on_the_last_piece() -> None:
    long_code = "svc:" + "very-long-service-code-" * 5
    message = Outgoing(
        "Which one?\n" + "x " * 3000,
        choices=(Choice("a", "Apples"), Choice(long_code, "A long one")),
        links=(Link("Parking", "https://city.example/parking"), Link("Call", "tel:311")),
    )
    out = pieces(message)
    assert all(p.markup is None for p in out[:-1])
    markup = out[-1].markup
    assert isinstance(markup, InlineKeyboardMarkup)
    buttons = [b for row in markup.inline_keyboard for b in row]
    data = [b.callback_data for b in buttons if b.callback_data]
    assert data[0] == "a" and all(len(str(d).encode()) <= 64 for d in data)
    assert data[1] == Choice(long_code, "A long one").token
    assert [b.url for b in buttons if b.url] == ["https://city.example/parking"]
    assert "Call: tel:311" in plain(out[-1].html)  # a link no button can open stays as text


def test_a_location_request_is_the_share_button_with_the_choices_beside_it() -> None:
    out = pieces(
        Outgoing("Where is it?", choices=(Choice("hint", "Yes, 5th and Market"),), request="location")
    )
    markup = out[-1].markup
    assert isinstance(markup, ReplyKeyboardMarkup)
    first, second = markup.keyboard
    assert first[0].text == SHARE_LOCATION and first[0].request_location
    assert second[0].text == "Yes, 5th and Market"  # a tap sends the words, which the engine reads
    assert markup.one_time_keyboard


def test_a_plain_message_takes_an_old_reply_keyboard_away_and_a_photo_comes_last() -> None:
    out = pieces(Outgoing("Thanks, filed as **10234**.", photo_url="http://127.0.0.1:8080/media/abc.jpg"))
    assert isinstance(out[0].markup, ReplyKeyboardRemove)
    assert out[0].html == "Thanks, filed as <b>10234</b>."
    assert out[1].photo == "http://127.0.0.1:8080/media/abc.jpg" and not out[1].html
