import Logging
import Testing

@testable import Alerting

struct WebhookTextTests {
    let dispatcher = AlertDispatcher(hostName: "worker-7", webhook: nil, logger: Logger(label: "test"))
    let plan = AlertSubject.handler("noctua.plan", queue: "content")

    @Test func anErrorCannotMentionTheChannel() {
        let text = dispatcher.webhookText(.raised(plan, failures: 3, lastError: "<!channel> & <http://x|click>"))
        #expect(text.hasSuffix("Last error: &lt;!channel&gt; &amp; &lt;http://x|click&gt;"))
    }

    @Test func aLongErrorIsCut() {
        let text = dispatcher.webhookText(.raised(plan, failures: 3, lastError: String(repeating: "é", count: 100_000)))
        #expect(text.hasSuffix(String(repeating: "é", count: AlertDispatcher.webhookErrorLimit) + "…"))
    }

    @Test func aRecoverySaysHowLongTheStreakWas() {
        #expect(dispatcher.webhookText(.recovered(plan, afterFailures: 7))
            == "[jobhost worker-7] handler noctua.plan succeeded again after 7 failed runs in a row (queue content).")
    }

    @Test func aStreakOfRunsAndAnEnqueueStreakSayWhichTheyAre() {
        #expect(dispatcher.webhookText(.raised(plan, failures: 3, lastError: "502"))
            == "[jobhost worker-7] handler noctua.plan failed 3 runs in a row (queue content). Last error: 502")
        #expect(dispatcher.webhookText(.raised(.scheduleEnqueue("worlds-sync"), failures: 3, lastError: "redis down"))
            == "[jobhost worker-7] enqueueing schedule worlds-sync failed 3 times in a row. Last error: redis down")
    }

    @Test func aCriticalJobsDeathNamesTheJob() {
        let job = AlertJob(id: "01JOB", handler: "noctua.plan", error: "plan rejected")
        #expect(dispatcher.webhookText(.jobDead(plan, job: job, failures: 1))
            == "[jobhost worker-7] job 01JOB of critical handler noctua.plan ended dead (queue content). Error: plan rejected")
    }
}
