import Foundation
import HostConfig
import Testing

struct AdminSectionTests {
    let loader = ConfigLoaderTests()

    @Test func withoutTheBlockThereIsNoServer() throws {
        #expect(try loader.load(ConfigLoaderTests.minimal).admin == nil)
    }

    @Test func anEmptyBlockListensOnLoopbackWithNoToken() throws {
        let admin = try #require(try loader.load(ConfigLoaderTests.minimal + "\nadmin: {}").admin)
        #expect(admin == AdminSettings(host: "127.0.0.1", port: 9090, tokenEnv: nil, openReads: false))
        #expect(admin.dashboard, "the dashboard comes with the admin server unless switched off")
    }

    @Test func theDashboardCanBeSwitchedOff() throws {
        let admin = try #require(try loader.load(ConfigLoaderTests.minimal + "\nadmin: { dashboard: false }").admin)
        #expect(!admin.dashboard)
        let found = loader.problems(ConfigLoaderTests.minimal + "\nadmin: { dashbord: false }")
        #expect(found.map(\.keyPath) == ["admin.dashbord"] && found.first?.message.contains("dashboard") == true, "\(found)")
    }

    @Test(arguments: [("0.0.0.0:8080", "0.0.0.0", 8080), ("[::1]:9191", "::1", 9191), ("127.0.0.1:0", "127.0.0.1", 0)])
    func readsTheAddress(_ listen: String, _ host: String, _ port: Int) throws {
        let admin = try #require(try loader.load(ConfigLoaderTests.minimal + "\nadmin: { listen: \"\(listen)\", token_env: ADMIN_TOKEN, open_reads: true }").admin)
        #expect(admin == AdminSettings(host: host, port: port, tokenEnv: "ADMIN_TOKEN", openReads: true))
    }

    @Test func badValuesAreNamedWithTheirLine() {
        let found = loader.problems(ConfigLoaderTests.minimal + """

            admin:
              listen: localhost
              token_env: "s3cr3t-token!"
              open_reads: maybe
              port: 80
            """)
        #expect(found.map(\.keyPath) == ["admin.listen", "admin.token_env", "admin.open_reads", "admin.port"], "\(found)")
        #expect(found.first { $0.keyPath == "admin.listen" }?.location.line == 6)
        #expect(found.first { $0.keyPath == "admin.listen" }?.message.contains("e.g. 127.0.0.1:9090") == true)
        #expect(found.first { $0.keyPath == "admin.token_env" }?.message.contains("never goes in the file") == true)
    }
}
