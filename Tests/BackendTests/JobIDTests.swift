import Foundation
import Testing

@testable import Backend

struct JobIDTests {
    @Test func idsAreUniqueAndSortByTime() {
        let earlier = (0..<1000).map { _ in JobID.generate(now: Date(timeIntervalSince1970: 1_700_000_000)) }
        let later = JobID.generate(now: Date(timeIntervalSince1970: 1_700_000_000.002))
        #expect(Set(earlier).count == 1000)
        #expect(earlier.allSatisfy { $0 < later })
        #expect(later.count == 26)
        #expect(later.allSatisfy { "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains($0) })
    }

    @Test func theTimestampIsEncodedFirst() {
        var zero = ZeroGenerator()
        #expect(JobID.generate(milliseconds: 0, using: &zero) == String(repeating: "0", count: 26))
        #expect(JobID.generate(milliseconds: 33, using: &zero).prefix(10) == "0000000011")
    }

    struct ZeroGenerator: RandomNumberGenerator {
        mutating func next() -> UInt64 { 0 }
    }
}
