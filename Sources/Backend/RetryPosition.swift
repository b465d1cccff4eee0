/// Where a job retried after a failed attempt joins its queue's line of ready jobs (a queue's
/// `retry_position`). Released and rescued jobs always go to the front, whatever this says: they lost
/// their turn through no fault of their own.
public enum RetryPosition: String, Sendable, Equatable, CaseIterable {
    /// Ahead of the jobs already waiting. On Redis a retry joins the very front of the line (at once,
    /// or when its backoff ends); on PostgreSQL and SQLite, whose line is ordered by run time, a retry
    /// without a delay keeps the place it had, and one with a delay takes its due time as its place.
    case front
    /// Behind every job already ready when the retry becomes due (now, or when its backoff ends), so
    /// fresh work goes first.
    case back
}
