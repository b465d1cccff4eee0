import Foundation
import HostConfig
import Testing

/// Every file in Fixtures/bad states the problems it plants in `# expect: LINE KEY.PATH | message fragment`
/// comments (`-` for no key path). The loader must report exactly those: each with its line and key path,
/// none missing, none extra.
struct BadConfigCorpusTests {
    struct Expectation: CustomStringConvertible {
        let line: Int
        let keyPath: String
        let fragment: String
        var description: String { "\(line) \(keyPath) | \(fragment)" }
    }

    static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("bad")

    static let files: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }()

    static func expectations(in text: String) -> [Expectation] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("# expect: ") else { return nil }
            let body = line.dropFirst("# expect: ".count)
            let halves = body.split(separator: "|", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            let head = halves[0].split(separator: " ", maxSplits: 1).map(String.init)
            return Expectation(line: Int(head[0])!, keyPath: head[1] == "-" ? "" : head[1], fragment: halves[1])
        }
    }

    @Test func theCorpusIsLargeEnough() {
        #expect(Self.files.count >= 30)
    }

    @Test(arguments: files)
    func reportsEveryPlantedProblem(file: String) throws {
        let path = Self.directory.appendingPathComponent(file).path
        let expected = Self.expectations(in: try String(contentsOfFile: path, encoding: .utf8))
        #expect(!expected.isEmpty, "\(file) states no expectation")
        let environment = ["HOME": "/root"]
        do {
            _ = try ConfigLoader(environment: environment).load(path: path)
            Issue.record("\(file) loaded without an error")
        } catch {
            let found = error.diagnostics
            for expectation in expected {
                let match = found.first {
                    $0.location.line == expectation.line && $0.keyPath == expectation.keyPath
                        && $0.message.contains(expectation.fragment)
                }
                #expect(match != nil, "\(file): expected \(expectation), got:\n\(error)")
            }
            #expect(found.count == expected.count, "\(file): expected \(expected.count) problems, got:\n\(error)")
            for diagnostic in found {
                #expect(diagnostic.location.file == path)
                #expect(diagnostic.description.hasPrefix("\(path):\(diagnostic.location.line):\(diagnostic.location.column): "))
            }
        }
    }

    @Test func passwordsNeverAppearInMessages() throws {
        let path = Self.directory.appendingPathComponent("bad-redis-url.yaml").path
        do {
            _ = try ConfigLoader(environment: [:]).load(path: path)
            Issue.record("loaded")
        } catch {
            #expect(!error.description.contains("canary-hunter2"))
            #expect(error.description.contains("admin:***@"))
        }
    }
}
