import Testing

@testable import Runtime

/// The limit of jobs a runner holds, from made-up paces and round trips: no clock, no backend.
struct FetchAheadTests {
    let t0 = ContinuousClock.now

    /// A runner of concurrency 10 that saw `perSecond` jobs finish over one window, each fetch and settle
    /// taking `roundTrip`.
    func limit(perSecond: Int, roundTrip: Duration) -> FetchAhead {
        var ahead = FetchAhead(concurrency: 10, now: t0)
        ahead.fetched(took: roundTrip)
        let window = Duration.seconds(1)
        _ = ahead.settled(perSecond, took: roundTrip, now: t0 + window)
        return ahead
    }

    @Test func slowJobsKeepTwiceTheSlots() {
        #expect(limit(perSecond: 10, roundTrip: .milliseconds(5)).limit == 20)
    }

    @Test func aFastBackendKeepsTwiceTheSlotsForFastJobs() {
        // Redis: 20,000 jobs/s, a round trip of 0.1 ms: 8 jobs finish during two fetch + settle pairs.
        #expect(limit(perSecond: 20_000, roundTrip: .microseconds(100)).limit == 28)
    }

    @Test func commitsThatWaitForTheDiskRaiseTheLimitByWhatFinishesMeanwhile() {
        // 4,000 jobs/s, 5 ms per commit: 4,000 × (5 + 5) ms × 2 = 80 more.
        #expect(limit(perSecond: 4_000, roundTrip: .milliseconds(5)).limit == 100)
    }

    @Test func theCeilingBoundsWhatOneHostTakes() {
        #expect(limit(perSecond: 100_000, roundTrip: .milliseconds(20)).limit == 500)
        var one = FetchAhead(concurrency: 1, now: t0)
        one.fetched(took: .milliseconds(20))
        _ = one.settled(100_000, took: .milliseconds(20), now: t0 + .seconds(1))
        #expect(one.limit == 50)
    }

    @Test func theLimitFollowsOnlyWholeWindowsAndFallsBackWhenJobsSlowDown() {
        var ahead = FetchAhead(concurrency: 10, now: t0)
        ahead.fetched(took: .milliseconds(5))
        #expect(ahead.settled(1_000, took: .milliseconds(5), now: t0 + .milliseconds(100)) == nil)
        #expect(ahead.limit == 20)
        // 1,000 jobs in the first 250 ms: 4,000 per second.
        #expect(ahead.settled(0, took: .milliseconds(5), now: t0 + .milliseconds(250)) == 100)
        // The next window saw 5 jobs in a second: back to twice the slots.
        #expect(ahead.settled(5, took: .milliseconds(5), now: t0 + .milliseconds(1_250)) == 20)
        #expect(ahead.limit == 20)
    }
}
