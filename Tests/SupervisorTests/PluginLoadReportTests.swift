import Foundation
import Glibc
import PluginHost
import Testing
@testable import Supervisor

/// The lines a worker writes while it loads plugins, and what the supervisor makes of them.
struct PluginLoadReportTests {
    @Test(arguments: [
        WorkerReport.stage(.checks, path: "/plugins/libA.so"), .stage(.constructor, path: "/plugins/libA.so"),
        .stage(.entry, path: "/odd dir/tab\there/new\nline/back\\slash/libB.so"), .stage(.descriptor, path: ""),
        .stage(.`init`, path: "/plugins/libA.so"), .stage(.done, path: "\\t is not a tab"),
    ])
    func aStepLineReadsBackAsWrittenOnOneLine(_ report: WorkerReport) {
        var bytes: [UInt8] = []
        report.write(to: &bytes)
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(bytes.dropLast().allSatisfy { $0 != UInt8(ascii: "\n") }, "one line")
        #expect(WorkerReport(line: bytes.dropLast()) == report)
    }

    @Test(arguments: ["T\tbogus\t/x", "T\tinit", "T\tinit\t/a\\q", "T\tinit\t/a\\", "T\tinit\t/a\t/b"])
    func aBrokenStepLineIsRefused(_ line: String) {
        #expect(WorkerReport(line: ArraySlice(line.utf8)) == nil)
    }

    @Test func aWorkerStuckInAStepOfPluginCodeIsOverdueAfterTheLimit() {
        let start = ContinuousClock.now
        var ledger = WorkerLedger()
        ledger.apply(.loading(plugin: "Slow"), grace: .seconds(1), now: start)
        #expect(ledger.loadOverdue(at: start + .seconds(60), limit: .seconds(5)) == nil, "not in a step yet")
        ledger.apply(.stage(.`init`, path: "/plugins/libSlow.so"), grace: .seconds(1), now: start)
        #expect(ledger.loadOverdue(at: start + .milliseconds(4999), limit: .seconds(5)) == nil)
        let refusal = ledger.loadOverdue(at: start + .seconds(5), limit: .seconds(5))
        #expect(refusal?.description.hasPrefix("plugin 'Slow' (/plugins/libSlow.so): hang check failed: init did not return within 5s") == true)
        // A new step restarts the clock; past the last plugin (starting the queues) nothing is bounded here.
        ledger.apply(.stage(.done, path: "/plugins/libSlow.so"), grace: .seconds(1), now: start + .seconds(4))
        #expect(ledger.loadOverdue(at: start + .seconds(60), limit: .seconds(5)) == nil)
        ledger.apply(.ready, grace: .seconds(1), now: start + .seconds(4))
        #expect(ledger.loadOverdue(at: start + .seconds(60), limit: .seconds(5)) == nil)
    }

    @Test func aWorkerThatEndedWhileLoadingNamesThePluginTheStepAndHow() {
        var ledger = WorkerLedger()
        #expect(ledger.loadEnded(.signalled(SIGSEGV)) == nil, "no plugin yet")
        ledger.apply(.loading(plugin: "Bad"), grace: .seconds(1), now: .now)
        ledger.apply(.stage(.checks, path: "/plugins/libBad.so"), grace: .seconds(1), now: .now)
        ledger.apply(.stage(.entry, path: "/plugins/libBad.so"), grace: .seconds(1), now: .now)
        #expect(ledger.loadEnded(.signalled(SIGSEGV))?.description
            == "plugin 'Bad' (/plugins/libBad.so): crash check failed: the entry function crashed the loading process (SIGSEGV)")
        let exited = ledger.loadEnded(.exited(status: 0))
        #expect(exited?.check == .exited)
        #expect(exited?.reason.hasPrefix("the entry function exited the process (exit status 0)") == true)
        // Past the plugin's steps the worker speaks for itself (it exits on a refused plugin).
        ledger.apply(.stage(.done, path: "/plugins/libBad.so"), grace: .seconds(1), now: .now)
        #expect(ledger.loadEnded(.exited(status: 78)) == nil)
    }

    /// The survey's reading of a worker's lines: the step under way and its file, whatever the reads
    /// cut the lines into.
    @Test func theSurveyFollowsTheStepsAcrossCutLines() {
        var progress = SurveyProgress(timeLimit: .seconds(1))
        #expect(progress.limitNow == PluginSurvey.startLimit, "starting a worker is not a plugin's step")
        var bytes: [UInt8] = []
        for report in [WorkerReport.loading(plugin: "Good"), .stage(.checks, path: "/p/libGood.so"), .stage(.done, path: "/p/libGood.so"),
                       .loading(plugin: "Bad"), .stage(.checks, path: "/p/libBad.so"), .stage(.constructor, path: "/p/libBad.so")] {
            report.write(to: &bytes)
        }
        let cut = bytes.count / 2 + 3
        progress.take(bytes[..<cut])
        progress.take(bytes[cut...])
        #expect(progress.plugin == "Bad" && progress.stage == .constructor && progress.path == "/p/libBad.so")
        #expect(progress.limitNow == .seconds(1))
        let failure = progress.failure(end: .hung(limit: .seconds(1)))
        #expect(failure.refusal?.check == .hung)
        #expect(failure.description.contains("a constructor of the library (run by dlopen) did not return within 1s"))
        #expect(SurveyProgress(timeLimit: .seconds(1)).failure(end: .exited(status: 78)).description
            == "the process loading the plugins exited (exit status 78) before loading any")
    }
}
