import ArgumentParser
import Backend
import Foundation
import HostConfig
import JobHostTesting
import Logging
import PluginHost
import RedisBackend
import Runtime

/// Measures the runtime end to end on a private Redis: bulk enqueue, drain of no-op jobs, host memory,
/// and enqueue→start latency of spaced-out jobs. Prints the figures; asserts nothing.
@main
struct Benchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host-bench",
        abstract: "Measures jobhost's throughput and latency against a private redis-server.",
        discussion: "Build in release mode for meaningful figures: swift run -c release host-bench")

    @Option(help: "No-op jobs to enqueue and drain.")
    var jobs = 100_000

    @Option(help: "Worker slots of the queue.")
    var concurrency = 10

    @Option(help: "Jobs for the latency run, enqueued one every 20 ms.")
    var latencyJobs = 200

    @Option(help: "How long finished jobs are kept (0s deletes them at once).")
    var retention = "0s"

    func run() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let scratch = try TemporaryDirectory.create()
        defer { try? scratch.remove() }
        var logger = Logger(label: "bench")
        logger.logLevel = .error

        let config = try ConfigLoader(environment: [:]).load(
            text: """
                backends:
                  main: { type: redis, url: "\(redis.url)", key_prefix: bench }
                plugins:
                  TestPlugin: {}
                queues:
                  default: { concurrency: \(concurrency), retention: \(retention), timeout: 30s }
                """, file: "bench.yaml", directory: scratch.url)
        let loader = PluginLoader(searchPaths: [BuildProducts.binDirectory], logger: logger)
        guard case .loaded = loader.load(config.plugins[0]) else {
            throw ValidationError("the test plugin did not load from \(BuildProducts.binDirectory.path): \(loader.results)")
        }
        let backend = RedisBackend(url: redis.url, keyPrefix: "bench", connectTimeout: .seconds(2), logger: logger)
        let submitter = JobSubmitter(config: config, backends: ["main": backend])
        let (template, _) = try submitter.prepare(.init(handler: "test.noop", payload: Data("{}".utf8)))

        print("jobhost benchmark: \(jobs) no-op jobs, concurrency \(concurrency), retention \(retention), redis-server \(redis.url)")

        // Bulk enqueue.
        let enqueueStart = ContinuousClock.now
        for start in stride(from: 0, to: jobs, by: 1000) {
            let batch = (start..<min(start + 1000, jobs)).map { _ in
                var job = template
                job.id = JobID.generate()
                return job
            }
            _ = try backend.enqueue(batch)
        }
        let enqueueTime = ContinuousClock.now - enqueueStart
        print(String(format: "bulk enqueue:   %8.0f jobs/s  (%.2f s, batches of 1000)", Double(jobs) / enqueueTime.seconds, enqueueTime.seconds))

        // Drain through the real runtime.
        let runtime = HostRuntime(config: config, backends: ["main": backend], registry: loader.registry, logger: logger)
        let drainStart = ContinuousClock.now
        runtime.start()
        while runtime.succeeded < jobs { try await Task.sleep(for: .milliseconds(2)) }
        let drainTime = ContinuousClock.now - drainStart
        print(String(format: "drain:          %8.0f jobs/s  (%.2f s)", Double(jobs) / drainTime.seconds, drainTime.seconds))
        print(String(format: "host RSS:       %8.1f MiB after the drain", Double(residentKiB()) / 1024))

        // Latency: enqueue one job every 20 ms, measure until its handler starts.
        let record = scratch.url.appendingPathComponent("latency.txt").path
        _ = FileManager.default.createFile(atPath: record, contents: nil)
        var enqueuedAt: [String: Double] = [:]
        for _ in 0..<latencyJobs {
            var job = template
            job.id = JobID.generate()
            job.handler = "test.record"
            job.payload = Data(#"{"record": "\#(record)"}"#.utf8)
            enqueuedAt[job.id] = Date().timeIntervalSince1970 * 1_000_000
            _ = try backend.enqueue([job])
            try await Task.sleep(for: .milliseconds(20))
        }
        while runtime.succeeded < jobs + latencyJobs { try await Task.sleep(for: .milliseconds(5)) }
        runtime.shutdown(timeout: .seconds(5))
        let latencies = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n").compactMap { line -> Double? in
            let fields = line.split(separator: " ")
            guard let sent = enqueuedAt[String(fields[0])], let started = Double(fields[3]) else { return nil }
            return (started - sent) / 1000
        }.sorted()
        func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        print(String(format: "latency:        p50 %.2f ms, p99 %.2f ms, max %.2f ms  (%d jobs enqueued 20 ms apart, enqueue → handler start)",
                     percentile(0.5), percentile(0.99), latencies.last ?? 0, latencies.count))
    }

    private func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
