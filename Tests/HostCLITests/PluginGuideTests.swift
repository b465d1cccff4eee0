import Foundation
import JobHostTesting
import Testing

/// docs/plugins.md shows the repository's plugins as they are: each block marked `example:` is the
/// whole file, word for word, and each block marked `excerpt:` is a part of the file, word for word.
struct PluginGuideTests {
    struct Block {
        let kind: String
        let path: String
        let body: String
    }

    /// Every marked block: `<!-- example: PATH -->` or `<!-- excerpt: PATH -->`, then a fenced block.
    static func blocks() throws -> [Block] {
        let guide = try String(contentsOf: BuildProducts.repositoryRoot.appendingPathComponent("docs/plugins.md"), encoding: .utf8)
        var blocks: [Block] = []
        var rest = guide[...]
        while let marker = rest.range(of: "<!-- ") {
            let line = rest[marker.upperBound...].prefix { $0 != "\n" }
            rest = rest[marker.upperBound...]
            guard line.hasSuffix(" -->"), let colon = line.firstIndex(of: ":") else { continue }
            let kind = String(line[..<colon])
            let path = line[line.index(after: colon)...].dropLast(4).trimmingCharacters(in: .whitespaces)
            guard kind == "example" || kind == "excerpt",
                let fence = rest.range(of: "\n```"), let bodyStart = rest[fence.upperBound...].firstIndex(of: "\n"),
                let end = rest[bodyStart...].range(of: "\n```\n")
            else { continue }
            blocks.append(Block(kind: kind, path: path, body: String(rest[rest.index(after: bodyStart)...end.lowerBound])))
        }
        return blocks
    }

    @Test func theGuideShowsEachLanguagesPlugin() throws {
        let paths = Set(try Self.blocks().map(\.path))
        #expect(paths.isSuperset(of: ["Plugins/Greeter/Greeter.swift", "Plugins/Echo/echo.c", "Plugins/RustHello/Cargo.toml", "Plugins/RustHello/src/lib.rs"]))
    }

    @Test func everyMarkedBlockIsTheCodeAsItIs() throws {
        for block in try Self.blocks() {
            let file = try String(contentsOf: BuildProducts.repositoryRoot.appendingPathComponent(block.path), encoding: .utf8)
            if block.kind == "example" {
                #expect(block.body == file, "docs/plugins.md's example of \(block.path) differs from the file")
            } else {
                #expect(file.contains(block.body), "docs/plugins.md quotes \(block.path) as it is not:\n\(block.body)")
            }
        }
    }
}
