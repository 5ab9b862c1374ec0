"""The fake Slack as the real slack_sdk and slack_bolt see it: over HTTP and websockets, nothing mocked.

Each test drives AsyncWebClient, a Bolt AsyncApp behind aiohttp, or Bolt's Socket Mode handler,
and checks both sides: what the library returned or raised, and what the fake recorded.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlack

STAFF, RESIDENT = "C0STAFF", "U0RES"
FORM: dict[str, Any] = {
    "type": "modal",
    "callback_id": "report_form",
    "private_metadata": "case-17",
    "title": {"type": "plain_text", "text": "Report a problem"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {
            "type": "input",
            "block_id": "what",
            "label": {"type": "plain_text", "text": "What is wrong?"},
            "element": {"type": "plain_text_input", "action_id": "text"},
        }
    ],
}
BUTTON_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*New report*"}},
    {
        "type": "actions",
        "block_id": "act",
        "elements": [
            {
                "type": "button",
                "action_id": "open_form",
                "text": {"type": "plain_text", "text": "Reply"},
                "value": "case-17",
            }
        ],
    },
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user(RESIDENT, "rita", "Rita Resident")
        fake.add_channel(STAFF, "staff")
        fake.add_channel("C0OUTSIDE", "outside", bot_member=False)
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)


async def error_of(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as refused:
        await call
    return refused.value


# --- the Web API through AsyncWebClient ------------------------------------------------------


async def test_auth_test_names_the_bot_and_its_scopes(client: AsyncWebClient) -> None:
    answer = await client.auth_test()
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == ("T0CITY", "U0BOT", "B0BOT")
    assert "chat:write" in answer.headers["x-oauth-scopes"]


async def test_post_reply_update_and_permalink(fake: FakeSlack, client: AsyncWebClient) -> None:
    first = await client.chat_postMessage(channel=STAFF, text="New report", blocks=BUTTON_BLOCKS)
    reply = await client.chat_postMessage(
        channel=STAFF, text="On it", thread_ts=first["ts"], unfurl_links=False
    )
    assert float(reply["ts"]) > float(first["ts"]) and first["ts"] == "1700000000.000100"
    assert first["message"]["blocks"][0]["block_id"]  # Slack fills in the ids it was not given
    await client.chat_update(channel=STAFF, ts=first["ts"], text="Report (handled)")

    stored = fake.message(STAFF, first["ts"])
    assert stored is not None and stored["text"] == "Report (handled)"
    assert stored["blocks"][1]["elements"][0]["action_id"] == "open_form"  # kept: no blocks passed
    assert [e["text"] for e in stored["edits"]] == ["New report"] and stored["user"] == "U0BOT"
    assert [m["text"] for m in fake.thread(STAFF, first["ts"])] == ["Report (handled)", "On it"]
    assert fake.messages(STAFF)[1]["unfurl_links"] is False
    link = await client.chat_getPermalink(channel=STAFF, message_ts=reply["ts"])
    assert link["permalink"].endswith(f"?thread_ts={first['ts']}&cid={STAFF}")
    # chat.* goes as JSON; the same call form-encoded, token in a field, is as good
    assert fake.calls_to("chat.postMessage")[0].params["blocks"][0]["type"] == "section"
    async with aiohttp.ClientSession() as session:
        form = {"token": fake.bot_token, "channel": STAFF, "text": "form", "reply_broadcast": "true"}
        async with session.post(fake.api_url + "chat.postMessage", data=form) as response:
            assert (await response.json())["ok"] is True
    method, params, _ = fake.calls[-1]
    assert method == "chat.postMessage" and params["text"] == "form" and "token" not in params


async def test_users_conversations_and_ephemeral(fake: FakeSlack, client: AsyncWebClient) -> None:
    user = (await client.users_info(user=RESIDENT))["user"]
    assert (user["profile"]["real_name"], user["team_id"], user["is_bot"]) == (
        "Rita Resident",
        "T0CITY",
        False,
    )
    assert (await error_of(client.users_info(user="U0NOBODY"))).response["error"] == "user_not_found"
    assert (await client.conversations_info(channel="C0OUTSIDE"))["channel"]["is_member"] is False
    joined = await client.conversations_join(channel="C0OUTSIDE")
    assert joined["channel"]["is_member"] is True and "warning" not in joined
    await client.chat_postMessage(channel="C0OUTSIDE", text="now I can")
    await client.chat_postEphemeral(channel=STAFF, user=RESIDENT, text="only you")
    assert fake.ephemerals[0]["user"] == RESIDENT and fake.messages(STAFF) == []


async def test_errors_for_tokens_channels_and_methods(fake: FakeSlack) -> None:
    bad = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    assert (await error_of(bad.auth_test())).response["error"] == "invalid_auth"
    assert (await error_of(AsyncWebClient(base_url=fake.api_url).auth_test())).response[
        "error"
    ] == "not_authed"
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    for channel, error in (("C0NOWHERE", "channel_not_found"), ("C0OUTSIDE", "not_in_channel")):
        assert (await error_of(client.chat_postMessage(channel=channel, text="hi"))).response[
            "error"
        ] == error
    assert (await error_of(client.api_call("chat.explode"))).response["error"] == "unknown_method"
    assert (await error_of(client.chat_update(channel=STAFF, ts="1.2", text="x"))).response["error"] == (
        "message_not_found"
    )
    with pytest.warns(UserWarning, match="`text` argument is missing"):
        assert (await error_of(client.chat_postMessage(channel=STAFF, text=""))).response[
            "error"
        ] == "no_text"
    too_long = client.chat_postMessage(channel=STAFF, text="x" * 40_001)
    assert (await error_of(too_long)).response["error"] == "msg_too_long"
    assert [c.status for c in fake.calls] == [200] * len(fake.calls)  # errors are ok:false with HTTP 200


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([{"type": "divider"}] * 51, "/blocks"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "/blocks/0/text/text"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}], "/blocks/0/text/type"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}], "/blocks/0/text/text"),
        ([{"type": "carousel"}], "/blocks/0/type"),
        ([{"type": "image", "image_url": "https://x/y.png"}], "/blocks/0/alt_text"),
        ([{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}], "/blocks/1/block_id"),
        ([{"type": "actions", "elements": [BUTTON_BLOCKS[1]["elements"][0]] * 26}], "/blocks/0/elements"),
        (
            [
                {
                    "type": "actions",
                    "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x" * 76}}],
                }
            ],
            "/blocks/0/elements/0/text/text",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": "x"}, "value": "v" * 2001}
                    ],
                }
            ],
            "/blocks/0/elements/0/value",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "x"},
                            "action_id": "a" * 256,
                        }
                    ],
                }
            ],
            "/blocks/0/elements/0/action_id",
        ),
    ],
)
async def test_blocks_slack_refuses(
    client: AsyncWebClient, blocks: list[dict[str, Any]], pointer: str
) -> None:
    refused = await error_of(client.chat_postMessage(channel=STAFF, text="fallback", blocks=blocks))
    assert refused.response["error"] == "invalid_blocks"
    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in refused.response["errors"]), refused.response


async def test_modal_limits_and_trigger_ids(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert (await error_of(client.views_open(trigger_id="made.up", view=FORM))).response["error"] == (
        "invalid_trigger_id"
    )
    long_title = FORM | {"title": {"type": "plain_text", "text": "x" * 25}}
    refused = await error_of(client.views_open(trigger_id=fake.new_trigger_id(), view=long_title))
    assert refused.response["error"] == "invalid_arguments"
    assert "/view/title/text" in refused.response["response_metadata"]["messages"][0]
    no_submit = {k: v for k, v in FORM.items() if k != "submit"}
    assert (await error_of(client.views_open(trigger_id=fake.new_trigger_id(), view=no_submit))).response[
        "error"
    ] == "invalid_arguments"

    trigger = fake.new_trigger_id()
    view = (await client.views_open(trigger_id=trigger, view=FORM))["view"]
    assert view["id"] and view["callback_id"] == "report_form" and view["state"] == {"values": {}}
    assert (await error_of(client.views_open(trigger_id=trigger, view=FORM))).response["error"] == (
        "exchanged_trigger_id"
    )
    stale = fake.new_trigger_id()
    fake.expire_triggers()
    assert (await error_of(client.views_open(trigger_id=stale, view=FORM))).response["error"] == (
        "expired_trigger_id"
    )
    updated = await client.views_update(
        view_id=view["id"], hash=view["hash"], view=FORM | {"private_metadata": "2"}
    )
    assert updated["view"]["private_metadata"] == "2" and updated["view"]["id"] == view["id"]
    stale_hash = client.views_update(view_id=view["id"], hash=view["hash"], view=FORM)
    assert (await error_of(stale_hash)).response["error"] == "hash_conflict"


async def test_scripted_faults(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=7)
    limited = await error_of(client.chat_postMessage(channel=STAFF, text="hi"))
    assert limited.response.status_code == 429 and limited.response["error"] == "ratelimited"
    assert limited.response.headers["Retry-After"] == "7"
    fake.fail_next("chat.postMessage", status=500)
    assert (await error_of(client.chat_postMessage(channel=STAFF, text="hi"))).response.status_code == 500
    fake.fail_next("chat.postMessage", error="channel_not_found", channel=STAFF)
    assert (await error_of(client.chat_postMessage(channel=STAFF, text="hi"))).response["error"] == (
        "channel_not_found"
    )
    await client.chat_postMessage(channel=STAFF, text="hi")  # the faults are used up
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 500, 200, 200]
    assert len(fake.messages(STAFF)) == 1


# --- Slack calling the app -----------------------------------------------------------------


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], str]]]]:
    """A bare app that keeps each request's headers and body and answers 200."""
    seen: list[tuple[dict[str, str], str]] = []

    async def keep(request: web.Request) -> web.Response:
        seen.append((dict(request.headers), await request.text()))
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/slack/events", keep)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/slack/events")), seen


async def test_signatures_and_retry_headers(
    fake: FakeSlack, recorder: tuple[str, list[tuple[dict[str, str], str]]]
) -> None:
    url, seen = recorder
    event = fake.message_event(STAFF, RESIDENT, "a pothole", thread_ts=None)
    first = await fake.send_event(url, event)
    await fake.send_event(url, event, event_id=first.sent["event_id"], retry_num=1)
    await fake.send_event(url, event, secret="not-the-secret")
    verifier = SignatureVerifier(fake.signing_secret)
    assert [verifier.is_valid_request(body, headers) for headers, body in seen] == [True, True, False]
    assert "X-Slack-Retry-Num" not in seen[0][0]
    assert (seen[1][0]["X-Slack-Retry-Num"], seen[1][0]["X-Slack-Retry-Reason"]) == ("1", "http_timeout")
    assert first.sent["type"] == "event_callback" and first.sent["event"]["user"] == RESIDENT
    assert fake.messages(STAFF)[0]["text"] == "a pothole"  # a resident's message the fake sent, once


def bolt_app(fake: FakeSlack) -> AsyncApp:
    """A small Bolt app: echoes messages in thread, opens a modal from a button, takes a command."""
    app = AsyncApp(
        client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url), signing_secret=fake.signing_secret
    )

    @app.event("message")
    async def echo(event: dict[str, Any], say: Any) -> None:
        await say(text=f"echo: {event['text']}", thread_ts=event.get("thread_ts") or event["ts"])

    @app.action("open_form")
    async def open_form(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=FORM)

    @app.view("report_form")
    async def submitted(ack: Any, view: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        text = view["state"]["values"]["what"]["text"]["value"]
        await client.chat_postMessage(channel=STAFF, text=f"{view['private_metadata']}: {text}")

    @app.command("/311")
    async def command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack(text="Got it")
        await respond(text=f"filed: {command['text']}", response_type="in_channel")

    return app


@pytest.fixture
async def bolt_url(fake: FakeSlack) -> AsyncIterator[str]:
    bolt = bolt_app(fake)

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", events)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/slack/events"))


async def test_bolt_over_http(fake: FakeSlack, client: AsyncWebClient, bolt_url: str) -> None:
    challenge = await fake.url_verification(bolt_url)
    assert challenge.json() == {"challenge": challenge.sent["challenge"]}

    reply = await fake.send_event(bolt_url, fake.message_event(STAFF, RESIDENT, "hello"))
    assert reply.status == 200
    echoed = await fake.wait_for(lambda: [m for m in fake.messages(STAFF) if m["user"] == "U0BOT"])
    assert echoed[0]["text"] == "echo: hello" and echoed[0]["thread_ts"] == reply.sent["event"]["ts"]

    stale = await fake.send_event(
        bolt_url, fake.message_event(STAFF, RESIDENT, "old"), timestamp=time.time() - 600
    )
    forged = await fake.send_event(bolt_url, fake.message_event(STAFF, RESIDENT, "x"), secret="guess")
    assert (stale.status, forged.status) == (401, 401)

    posted = await client.chat_postMessage(channel=STAFF, text="New report", blocks=BUTTON_BLOCKS)
    pressed = await fake.press_button(
        bolt_url, channel=STAFF, message_ts=posted["ts"], action_id="open_form", user=RESIDENT
    )
    assert pressed.status == 200
    assert pressed.sent["actions"][0] | {"action_ts": ""} == {
        "action_id": "open_form",
        "block_id": "act",
        "type": "button",
        "value": "case-17",
        "text": {"type": "plain_text", "text": "Reply", "emoji": True},
        "action_ts": "",
    }
    assert pressed.sent["message"]["blocks"][1]["block_id"] == "act"
    opened = await fake.wait_for(lambda: fake.opened_views)
    assert opened[0]["callback_id"] == "report_form"

    submitted = await fake.submit_last_view(bolt_url, user=RESIDENT, inputs={"what": "streetlight out"})
    assert submitted.status == 200 and submitted.body == ""
    await fake.wait_for(lambda: fake.messages(STAFF)[-1]["text"] == "case-17: streetlight out")
    assert opened[0]["id"] in fake.closed_views

    answered = await fake.slash_command(
        bolt_url, command="/311", text="graffiti", user=RESIDENT, channel=STAFF
    )
    assert answered.body == "Got it"  # Bolt acks a text-only answer as text/plain
    await fake.wait_for(lambda: fake.responses)
    assert fake.responses[0].body["response_type"] == "in_channel"
    assert fake.messages(STAFF)[-1]["text"] == "filed: graffiti"


async def test_bolt_over_socket_mode(fake: FakeSlack, client: AsyncWebClient) -> None:
    handler = AsyncSocketModeHandler(bolt_app(fake), fake.app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        await fake.socket_connected()
        ack = await fake.socket_event(fake.message_event(STAFF, RESIDENT, "over the socket"))
        assert ack.acked and ack.payload is None and ack.sent["type"] == "events_api"
        await fake.wait_for(lambda: any(m["text"] == "echo: over the socket" for m in fake.messages(STAFF)))

        posted = await client.chat_postMessage(channel=STAFF, text="New report", blocks=BUTTON_BLOCKS)
        pressed = await fake.socket_press_button(
            channel=STAFF, message_ts=posted["ts"], action_id="open_form", user=RESIDENT
        )
        assert pressed.acked
        await fake.wait_for(lambda: fake.opened_views)
        assert (await fake.socket_submit_last_view(user=RESIDENT, inputs={"text": "noise"})).acked
        await fake.wait_for(lambda: fake.messages(STAFF)[-1]["text"] == "case-17: noise")
        command = await fake.socket_slash_command(command="/311", text="litter", user=RESIDENT, channel=STAFF)
        assert command.payload == {"text": "Got it"}

        await fake.socket_disconnect()  # Slack's "disconnect": the SDK fetches a new URL and reconnects
        await fake.wait_for(lambda: fake.socket_connections == 2 and fake.socket_open)
        assert len(fake.calls_to("apps.connections.open")) == 2
        assert (await fake.socket_event(fake.message_event(STAFF, RESIDENT, "again"))).acked
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


async def test_wait_for_times_out_on_a_condition_never_met(fake: FakeSlack) -> None:
    with pytest.raises(TimeoutError):
        await fake.wait_for(lambda: fake.opened_views, timeout=0.05)


async def test_token_in_a_json_body_is_not_read(fake: FakeSlack) -> None:
    """Slack takes a JSON body's token only as a bearer header; a form field is fine."""
    async with aiohttp.ClientSession() as session:
        body = {"token": fake.bot_token, "channel": STAFF, "text": "hi"}
        async with session.post(fake.api_url + "chat.postMessage", json=body) as response:
            assert (await response.json())["error"] == "not_authed"


async def test_response_url_replaces_the_pressed_message(
    fake: FakeSlack, client: AsyncWebClient, recorder: tuple[str, list[tuple[dict[str, str], str]]]
) -> None:
    posted = await client.chat_postMessage(channel=STAFF, text="New report", blocks=BUTTON_BLOCKS)
    pressed = await fake.press_button(
        recorder[0], channel=STAFF, message_ts=posted["ts"], action_id="open_form", user=RESIDENT
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            pressed.sent["response_url"], json={"replace_original": True, "text": "Taken"}
        ) as answer,
    ):
        assert answer.status == 200
    stored = fake.message(STAFF, posted["ts"])
    assert stored is not None and stored["text"] == "Taken" and len(stored["edits"]) == 1
    assert fake.responses[0].body["replace_original"] is True
