from tests.e2e.test_scheduler import scenario  # noqa: F401
import time

def test_dump(scenario):
    s = scenario.services
    for name in ("notes", "badauth", "throttled"):
        s.wait_run(f"collect_{name}", scenario.runs[name])
    time.sleep(75)
    for a in scenario.receiver.received:
        print("=====", a.path, a.received_at - scenario.triggered_at)
        print(a.text)
        print(a.raw[:3000])
    print("\n".join(sorted(set(l.split(":")[0] for l in scenario.statsd.lines if "collectors" in l))))
    for p in sorted((s.home / "logs").rglob("*")):
        print(p)
    import subprocess
    print(subprocess.run(["bash","-c", f"cat $(find {s.home}/logs -path '*collect_badauth*' -name '*.log' | head -3)"], capture_output=True, text=True).stdout[-6000:])
