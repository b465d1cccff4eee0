import Hummingbird
import Monitoring

/// `/health`, `/ready`, `/live` and `/metrics`.
struct Probes: Sendable {
    let host: AdminHost

    func register(on router: Router<BasicRequestContext>) {
        router.get("health") { _, _ in
            let snapshot = await host.probe.snapshot()
            return Reply.json(snapshot, status: snapshot.status == .ok ? .ok : .serviceUnavailable)
        }
        // Each handler's last success and failure, and its failures in a row: what an alert is about.
        router.get("health/tasks") { _, _ in
            Reply.json(["tasks": host.tasks.all])
        }
        // Ready: serving, and every backend answers. An orchestrator sends no traffic otherwise; the
        // host itself keeps retrying its backends.
        router.get("ready") { _, _ in
            let state = host.readiness.current
            guard state == .serving else {
                return Reply.json(["status": state.rawValue], status: .serviceUnavailable)
            }
            let snapshot = await host.probe.snapshot()
            let down = snapshot.backends.filter { !$0.up }.map(\.name)
            guard down.isEmpty else {
                return Reply.json(["status": "backend down: \(down.joined(separator: ", "))"], status: .serviceUnavailable)
            }
            return Reply.json(["status": "ready"])
        }
        // Live: the process answers. Restarting it cures nothing a backend outage causes, so this
        // asks nothing of the backends.
        router.get("live") { _, _ in Reply.json(["status": "alive"]) }
        router.get("metrics") { _, _ in
            host.metrics.update(from: await host.probe.snapshot())
            return Reply.bytes(host.metrics.exposition(), type: "text/plain; version=0.0.4; charset=utf-8")
        }
    }
}
