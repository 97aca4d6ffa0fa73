"""Live across workers: two web apps (two WebStates) and a job runner on one database; an
apply through one is served by the others on their next request or batch, and a request
keeps the model it started with."""

from __future__ import annotations

import pytest
from designutil import ADMIN, FILES, add_wechat, migrate

from engine import design
from engine.config import Settings
from engine.design.live import LiveModel
from engine.jobs import JobRunner
from engine.web import create_app
from engine.web.state import WebState


@pytest.fixture
def shop(make_project, db_url):
    root = make_project(FILES)
    model, engine = migrate(root, db_url)
    apps = [create_app(Settings(project=root, database_url=db_url, secret_key="s", extra={"jobs": "off"}))
            for _ in range(2)]
    yield root, engine, model, apps
    for app in apps:
        WebState.of(app).engine.dispose()
    engine.dispose()


def test_the_other_worker_serves_the_new_model_on_its_next_request(shop):
    root, engine, model, (one, other) = shop
    assert other.test_client().get("/health").get_json()["metadata_version"] == model.version
    first = WebState.of(one)  # the admin's request lands on worker one
    change = design.apply(first.project, first.engine, add_wechat(), user=ADMIN, expected_version=first.model.version)
    for app in (other, one):
        health = app.test_client().get("/health").get_json()
        assert health["metadata_version"] == change.version
        assert "wechat_id" in WebState.of(app).model.entities["customer"].fields
    design.revert(root, engine, change.id, user=ADMIN, expected_version=change.version)
    assert other.test_client().get("/health").get_json()["metadata_version"] == model.version


def test_a_request_keeps_the_model_it_started_with(shop):
    root, engine, model, (app, _) = shop
    state = WebState.of(app)
    with app.test_request_context("/health"):
        state.refresh()
        pinned = state.model
        design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
        state.live.refresh()  # another request of this worker recompiles meanwhile
        assert state.live.current[0] is not pinned and "wechat_id" in state.live.current[0].entities["customer"].fields
        assert state.model is pinned and state.service.model is pinned  # never a mix within the request
    with app.test_request_context("/health"):
        state.refresh()
        assert "wechat_id" in state.model.entities["customer"].fields


def test_the_job_runner_follows_the_database_per_batch(shop):
    root, engine, model, _ = shop
    live = LiveModel(root, engine)
    seen = []

    def service_of():
        return live.current[1]

    runner = JobRunner(service_of, {}, refresh=live.refresh)
    runner.due = lambda now, limit: seen.append(runner.service_of().model.version) or []  # type: ignore[method-assign]
    runner.run_due()
    change = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    runner.run_due()
    assert seen == [model.version, change.version]


def test_start_up_loads_the_designer_layer(shop, db_url):
    root, engine, model, _ = shop
    change = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    app = create_app(Settings(project=root, database_url=db_url, secret_key="s", extra={"jobs": "off"}))
    try:
        assert WebState.of(app).model.version == change.version
    finally:
        WebState.of(app).engine.dispose()


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves (the look's interval, not real time)."""
    from engine.design import live

    now = [1000.0]
    monkeypatch.setattr(live, "monotonic", lambda: now[0])
    return now


def checking_every(root, db_url, seconds: str):
    return create_app(Settings(project=root, database_url=db_url, secret_key="s",
                               extra={"jobs": "off", "model_check_seconds": seconds}))


def test_another_hosts_change_is_served_within_the_check_interval(shop, db_url, clock, monkeypatch):
    root, engine, model, _ = shop
    app = checking_every(root, db_url, "1")
    try:
        client = app.test_client()
        assert client.get("/health").get_json()["metadata_version"] == model.version
        # made elsewhere: this process is not told (another host, another gunicorn worker)
        monkeypatch.setattr(design.service, "note_recorded", lambda: None)
        change = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
        clock[0] += 0.5
        assert client.get("/health").get_json()["metadata_version"] == model.version  # within the second
        clock[0] += 0.6
        assert client.get("/health").get_json()["metadata_version"] == change.version
        assert "wechat_id" in WebState.of(app).model.entities["customer"].fields
    finally:
        WebState.of(app).engine.dispose()


def test_the_designer_and_writes_always_look(shop, db_url, clock, monkeypatch):
    root, engine, model, _ = shop
    app = checking_every(root, db_url, "60")
    try:
        client = app.test_client()
        assert client.get("/health").get_json()["metadata_version"] == model.version
        monkeypatch.setattr(design.service, "note_recorded", lambda: None)
        change = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
        client.get("/design")  # not signed in: sent to sign in, but the model was looked at first
        assert WebState.of(app).model.version == change.version
        back = design.revert(root, engine, change.id, user=ADMIN, expected_version=change.version)
        client.post("/sign-out")  # a write (refused here: no CSRF token) acts on the newest model
        assert client.get("/health").get_json()["metadata_version"] == back.version == model.version
    finally:
        WebState.of(app).engine.dispose()


def test_a_change_made_in_this_process_is_served_on_the_next_request(shop, db_url, clock):
    root, engine, model, _ = shop
    app = checking_every(root, db_url, "60")
    try:
        client = app.test_client()
        assert client.get("/health").get_json()["metadata_version"] == model.version
        change = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
        assert client.get("/health").get_json()["metadata_version"] == change.version  # no time has passed
    finally:
        WebState.of(app).engine.dispose()


@pytest.mark.parametrize("seconds", ["-1", "soon", "61"])
def test_a_bad_check_interval_stops_the_start(shop, db_url, seconds):
    root, *_ = shop
    with pytest.raises(RuntimeError, match="TAILOR_MODEL_CHECK_SECONDS"):
        checking_every(root, db_url, seconds)


def test_a_read_that_meets_a_column_renamed_meanwhile_is_sent_again(shop, db_url, clock, monkeypatch):
    """Within the check interval a read runs on the worker's model; a column another worker
    renamed meanwhile makes its SQL fail: the reader is sent to the same page again (307)
    and the new model serves it — never an error page."""
    from designutil import WECHAT
    from pagesutil import make_user, sign_in

    root, engine, model, _ = shop
    change = design.apply(root, engine, add_wechat(), user=ADMIN, expected_version=model.version)
    app = checking_every(root, db_url, "1")
    try:
        state = WebState.of(app)
        make_user(state.engine, state.model, "rita", roles=("rep",))
        client = app.test_client()
        assert sign_in(client, "rita").status_code == 302
        acme = state.service.create("customer", {"name": "Acme", "wechat_id": "acme88"})["id"]
        assert client.get(f"/e/customer/{acme}").status_code == 200  # looked just now: the model with wechat_id
        monkeypatch.setattr(design.service, "note_recorded", lambda: None)  # made on another worker
        renamed = design.apply(root, engine, [
            {"path": "entities.customer.fields.wechat_id", "delete": True},
            {"path": "entities.customer.fields.wechat", "value": {**WECHAT, "renamed_from": "wechat_id"}},
        ], user=ADMIN, expected_version=change.version)
        clock[0] += 0.2  # within the second: this worker has not looked again
        answer = client.get(f"/e/customer/{acme}?tab=main")
        assert answer.status_code == 307 and answer.headers["Location"].endswith(f"/e/customer/{acme}?tab=main")
        again = client.get(f"/e/customer/{acme}?tab=main")
        assert again.status_code == 200 and "acme88" in again.get_data(as_text=True)
        assert state.model.version == renamed.version
    finally:
        WebState.of(app).engine.dispose()
