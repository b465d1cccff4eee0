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
            == "[jobhost worker-7] handler noctua.plan (queue content) succeeded again after 7 failures in a row.")
    }
}
