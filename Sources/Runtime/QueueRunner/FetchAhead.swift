import Durations

/// How many jobs a queue runner may hold at once (fetched, running, or finished with the outcome not yet
/// recorded): twice its slots, plus what finishes during the backend's round trips.
///
/// A runner's jobs wait, between two fetches, for one fetch and one settle. On Redis these take a
/// fraction of a millisecond and twice the slots covers them. On a durable PostgreSQL or SQLite every
/// commit waits for the disk (milliseconds): with only twice the slots held, fast jobs leave the slots
/// idle while the commits pass, and each commit carries a handful of jobs. So the limit grows with the
/// jobs finished per second times the last round trips (Little's law), and each commit carries many.
/// Slow jobs finish few per second: the limit stays at twice the slots, and a host never hoards work
/// other hosts could start. The ceiling bounds what one host takes from a shared queue at once.
struct FetchAhead {
    /// The limit when jobs are slow or the backend answers fast: twice the slots.
    let floor: Int
    /// At most this many held, however fast jobs finish.
    let ceiling: Int

    /// Jobs finished and recorded since `windowStart`.
    private var finished = 0
    private var windowStart: ContinuousClock.Instant
    private var fetchTook: Duration = .zero
    private var settleTook: Duration = .zero
    private(set) var limit: Int

    /// How long a rate is measured over before the limit follows it.
    static let window = Duration.milliseconds(250)

    init(concurrency: Int, now: ContinuousClock.Instant = .now) {
        floor = concurrency * 2
        ceiling = max(floor, min(1_000, concurrency * 50))
        limit = floor
        windowStart = now
    }

    /// A fetch round trip that returned jobs (an empty fetch says nothing about a busy queue's pace).
    mutating func fetched(took: Duration) { fetchTook = took }

    /// A settle round trip that recorded `count` outcomes. Returns the new limit when it changed.
    mutating func settled(_ count: Int, took: Duration, now: ContinuousClock.Instant = .now) -> Int? {
        settleTook = took
        finished += count
        let elapsed = now - windowStart
        guard elapsed >= Self.window else { return nil }
        let perSecond = Double(finished) / elapsed.seconds
        // Twice the round trips: a batch fetched while the previous one is still being settled.
        let inFlight = perSecond * (fetchTook + settleTook).seconds * 2
        let next = min(ceiling, max(floor, floor + Int(inFlight.rounded())))
        finished = 0
        windowStart = now
        guard next != limit else { return nil }
        limit = next
        return next
    }
}
