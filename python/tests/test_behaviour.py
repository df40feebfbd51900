"""Errors, health checks, concurrency, logging and shutdown of a Python service."""

import json
import signal
import threading
import time

import requests

from conftest import decode, input_hash, post, study, wait_until


def test_registered_error_handler_answers(serve):
    app = serve("behaviour.py")
    resp = post(app.url + "/refused", {}, study())
    assert (resp.status_code, resp.text) == (422, "refused: this study is not a chest X-ray")


def test_handler_exception_is_a_500_then_the_next_request_is_served(serve):
    app = serve("behaviour.py")
    resp = post(app.url + "/boom", {}, study())
    assert resp.status_code == 500
    assert resp.text == "handler failed: RuntimeError: model weights missing\n"
    # The traceback is logged once, tagged with the request's input_hash.
    wait_until(lambda: "Traceback" in app.output())
    out = app.output()
    assert out.count("Traceback") == 1
    assert f"[{input_hash({}, study())}] handler raised RuntimeError" in out
    assert decode(post(app.url + "/slow", {"seconds": "0"}, study()))[0].content


def test_protocol_violations_are_500s_naming_the_part(serve):
    app = serve("behaviour.py")
    cases = {
        "bad_count": "1 parts but 0",
        "bad_size": "part 0",
        "bad_type": "hologram",
        "bad_part": "part 0: a int is not a numpy array, bytes or a file-like object",
    }
    for route, says in cases.items():
        resp = post(app.url + "/" + route, {}, study())
        assert resp.status_code == 500, (route, resp.text)
        assert says in resp.text, (route, resp.text)
        assert resp.text.count("\n") <= 1, resp.text
    assert post(app.url + "/slow", {"seconds": "0"}, study()).status_code == 200


def test_healthcheck_returns_a_flask_response(serve):
    app = serve("behaviour.py")
    for method in (requests.get, requests.post):
        resp = method(app.url + "/healthcheck", timeout=10)
        assert (resp.status_code, resp.text) == (200, "READY")


def test_slow_handler_does_not_block_probes(serve):
    app = serve("behaviour.py")
    for route in ("/slow", "/busy"):
        answer = {}
        started = app.output().count("start processing")
        t = threading.Thread(target=lambda: answer.update(r=post(app.url + route, {"seconds": "3"}, study())))
        t.start()
        wait_until(lambda: app.output().count("start processing") > started or not t.is_alive())
        assert t.is_alive(), "the handler finished before the probes were asked"
        for probe in ("/healthcheck", "/ping", "/metrics", "/livez", "/readyz"):
            resp = requests.get(app.url + probe, timeout=10)
            assert resp.status_code == 200, (probe, resp.text)
        assert t.is_alive(), "the probes waited for the handler"
        t.join(60)
        assert answer["r"].status_code == 200


def test_log_records_carry_the_input_hash(serve):
    app = serve("behaviour.py")
    resp = post(app.url + "/logs", {}, study())
    input_hash = decode(resp)[-1].content.decode().split(":")[0]
    wait_until(lambda: f"handler sees {input_hash}" in app.output())
    line = next(l for l in app.output().splitlines() if "handler sees" in l)
    assert f"[{input_hash}]" in line


def _drains_on(serve, sig):
    app = serve("behaviour.py", "shutdown_grace_secs=20")
    answer = {}
    t = threading.Thread(target=lambda: answer.update(r=post(app.url + "/slow", {"seconds": "2"}, study())))
    t.start()
    wait_until(lambda: "sleeping" in app.output())
    app.signal(sig)
    t.join(60)
    assert answer["r"].status_code == 200
    assert app.wait(30) == 0, app.output()
    assert "Traceback" not in app.output()


def test_sigterm_drains_in_flight_requests(serve):
    _drains_on(serve, signal.SIGTERM)


def test_keyboard_interrupt_drains_in_flight_requests(serve):
    _drains_on(serve, signal.SIGINT)


def test_options_are_checked():
    import pytest

    from arterys_gateway import Gateway

    for bad in ({"max_concurrent": 0}, {"memory_budget_mib": "lots"}, {"study_root": "/nonexistent"},
                {"handler_timeout_secs": True}, {"max_concurent": 2}):
        with pytest.raises(ValueError):
            Gateway(__name__, **bad)
    app = Gateway(__name__)
    app.add_inference_route("/", lambda *a: None)
    with pytest.raises(ValueError, match="already has a handler"):
        app.add_inference_route("/", lambda *a: None)
    with pytest.raises(ValueError):
        app.run(port=70000)


def test_handlers_run_on_max_concurrent_threads(serve):
    app = serve("behaviour.py", "max_concurrent=2")
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(post(app.url + "/slow", {"seconds": "3"}, study())))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    # Both handlers are sleeping at once: two threads of the pool.
    wait_until(lambda: app.output().count("sleeping 3 s") == 2 or not any(t.is_alive() for t in threads))
    assert app.output().count("sleeping 3 s") == 2 and all(t.is_alive() for t in threads)
    for t in threads:
        t.join(60)
    assert [a.status_code for a in answers] == [200, 200]


def test_python_routes_count_in_the_gateways_inference_metrics(serve):
    app = serve("behaviour.py")
    answer = {}
    t = threading.Thread(target=lambda: answer.update(r=post(app.url + "/slow", {"seconds": "2"}, study())))
    t.start()
    wait_until(lambda: "sleeping" in app.output())
    # The running handler holds one of the gateway's permits.
    running = requests.get(app.url + "/metrics", timeout=10).text
    assert "arterys_inference_permits_in_use 1" in running, running
    t.join(60)
    assert answer["r"].status_code == 200
    done = requests.get(app.url + "/metrics", timeout=10).text
    assert "arterys_inference_permits_in_use 0" in done, done
    assert 'arterys_handler_duration_seconds_count{route="/slow"} 1' in done, done
    assert 'arterys_inference_queue_wait_seconds_count{route="/slow"} 1' in done, done


def test_study_root_serves_study_path_requests(serve, tmp_path):
    study_dir = tmp_path / "studies" / "ct-1"
    study_dir.mkdir(parents=True)
    files = study()
    for i, data in enumerate(files):
        (study_dir / f"{i:03}.dcm").write_bytes(data)
    app = serve("behaviour.py", f"study_root={tmp_path / 'studies'}")
    ask = {"studyPath": "ct-1"}
    resp = requests.post(app.url + "/count", data=json.dumps(ask), timeout=60,
                         headers={"Content-Type": "application/json"})
    answer = json.loads(decode(resp)[0].content)
    assert answer["study_ml_json"] == {"instances": len(files), "bytes": sum(map(len, files))}
    # Outside the root: refused before any handler runs.
    escape = requests.post(app.url + "/count", data=json.dumps({"studyPath": "../.."}), timeout=60,
                           headers={"Content-Type": "application/json"})
    assert 400 <= escape.status_code < 500, escape.text
    # Without study_root, studyPath requests are off.
    plain = serve("behaviour.py")
    off = requests.post(plain.url + "/count", data=json.dumps(ask), timeout=60,
                        headers={"Content-Type": "application/json"})
    assert 400 <= off.status_code < 500 and "studyPath" in off.text, off.text


def test_logging_config_sets_the_gateways_own_lines(serve, tmp_path):
    config = tmp_path / "logging.yaml"
    config.write_text("format: json\nroot:\n  level: INFO\n")
    app = serve("behaviour.py", f"logging_config={config}")
    resp = post(app.url + "/slow", {"seconds": "0"}, study())
    digest = decode(resp)[-1].content.decode().split(":")[0]
    wait_until(lambda: "response sent" in app.output())
    lines = [json.loads(l) for l in app.output().splitlines() if l.startswith("{") and "start processing" in l]
    assert lines, app.output()
    assert digest in json.dumps(lines[0]), lines[0]
    # A config the gateway cannot read stops start-up with a ValueError naming the option.
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: xml\n")
    import pytest

    from arterys_gateway import Gateway

    gw = Gateway(__name__, logging_config=str(bad))
    gw.add_inference_route("/", lambda *a: None)
    with pytest.raises(ValueError, match="logging_config"):
        gw.run(port=0)
