import Foundation
import PluginKit
import Testing

/// A plugin's config block decoded through PluginKit: every key written must be one the plugin
/// declares, every value of the declared type; each mistake is one `config.<key path>: <message>` line.
struct ConfigDecodingTests {
    struct Settings: Decodable {
        var databaseURL: String
        var batchSize: Int?
        var mode: Mode?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case databaseURL = "database_url"
            case batchSize = "batch_size"
            case mode
        }
    }

    enum Mode: String, Decodable, CaseIterable {
        case fast, thorough
    }

    /// A section another module owns, decoded from the same block.
    struct Shared: Decodable {
        var aiModel: String?
        var aiTemperature: Double?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case aiModel = "ai_model"
            case aiTemperature = "ai_temperature"
        }
    }

    struct Nested: Decodable {
        struct AI: Decodable {
            var model: String
            var temperature: Double?

            enum CodingKeys: String, CodingKey, CaseIterable { case model, temperature }
        }
        struct Target: Decodable {
            var url: URL
            var weight: UInt8?

            enum CodingKeys: String, CodingKey, CaseIterable { case url, weight }
        }
        var ai: AI
        var targets: [Target]?

        enum CodingKeys: String, CodingKey, CaseIterable { case ai, targets }
    }

    /// Coding keys that do not list themselves: the keys the type asks for are what it declares.
    struct Plain: Decodable {
        var name: String
        var count: Int?
    }

    static func lines<T: Decodable>(_ json: String, as type: T.Type) -> [String] {
        do {
            _ = try PluginConfiguration(json: Data(json.utf8)).decode(T.self)
            return []
        } catch {
            return error.description.split(separator: "\n").map(String.init)
        }
    }

    @Test func aWellFormedBlockDecodesWithTheDefaultsLeftOut() throws {
        let settings = try PluginConfiguration(json: Data(#"{"database_url": "postgres://db/app", "mode": "fast"}"#.utf8)).decode(Settings.self)
        #expect(settings.databaseURL == "postgres://db/app" && settings.batchSize == nil && settings.mode == .fast)
        let nulls = try PluginConfiguration(json: Data(#"{"database_url": "x", "batch_size": null}"#.utf8)).decode(Settings.self)
        #expect(nulls.batchSize == nil, "an optional key written empty is left out")
        let whole = try PluginConfiguration(json: Data(#"{"database_url": "x", "batch_size": 7.0}"#.utf8)).decode(Settings.self)
        #expect(whole.batchSize == 7, "7.0 is a whole number")
    }

    @Test func anUnknownKeyIsRefusedWithTheDeclaredKeyItsSpellingIsClosestTo() {
        #expect(Self.lines(#"{"database_url": "x", "batch_sise": 5}"#, as: Settings.self)
            == ["config.batch_sise: unknown key; did you mean 'batch_size'?"])
        #expect(Self.lines(#"{"database_url": "x", "DataBase_URL": "y"}"#, as: Settings.self)
            == ["config.DataBase_URL: unknown key; did you mean 'database_url'?"], "case does not count against a suggestion")
    }

    @Test func anUnknownKeyNothingIsCloseToListsTheKnownKeys() {
        #expect(Self.lines(#"{"database_url": "x", "colour": "red"}"#, as: Settings.self)
            == ["config.colour: unknown key; known keys: batch_size, database_url, mode"])
        struct Nothing: Decodable {
            enum CodingKeys: String, CodingKey, CaseIterable { case unused }
            init(from decoder: any Decoder) throws { _ = try decoder.container(keyedBy: CodingKeys.self) }
        }
        #expect(Self.lines(#"{"colour": "red"}"#, as: Nothing.self) == ["config.colour: unknown key; known keys: unused"])
    }

    @Test func aValueOfTheWrongTypeSaysWhatWasExpectedAndWhatWasWritten() {
        #expect(Self.lines(#"{"database_url": "x", "batch_size": "seven"}"#, as: Settings.self)
            == ["config.batch_size: expected an integer, found a string"])
        #expect(Self.lines(#"{"database_url": 5432}"#, as: Settings.self) == ["config.database_url: expected a string, found an integer"])
        #expect(Self.lines(#"{"database_url": true}"#, as: Settings.self) == ["config.database_url: expected a string, found true"])
        #expect(Self.lines(#"{"database_url": "x", "batch_size": 2.5}"#, as: Settings.self)
            == ["config.batch_size: expected an integer, found a number"])
        #expect(Self.lines(#"{"database_url": ["x"]}"#, as: Settings.self) == ["config.database_url: expected a string, found a list"])
        #expect(Self.lines(#"{"database_url": null}"#, as: Settings.self) == ["config.database_url: expected a string, found nothing"])
        #expect(Self.lines(#"{"database_url": "x", "mode": "fsat"}"#, as: Settings.self)
            == ["config.mode: expected one of fast, thorough, found 'fsat'; did you mean 'fast'?"])
    }

    @Test func aMissingRequiredKeyIsNamed() {
        #expect(Self.lines("{}", as: Settings.self) == ["config.database_url: required key is missing"])
        #expect(Self.lines(#"{"ai": {}}"#, as: Nested.self) == ["config.ai.model: required key is missing"])
    }

    @Test func everyMistakeIsOneLineInKeyPathOrder() {
        #expect(Self.lines(#"{"database_url": "x", "batch_size": "seven", "batch_sise": 5, "colour": "red"}"#, as: Settings.self) == [
            "config.batch_sise: unknown key; did you mean 'batch_size'?",
            "config.batch_size: expected an integer, found a string",
            "config.colour: unknown key; known keys: batch_size, database_url, mode",
        ], "a type that lists its keys finds every unknown one even when decoding stopped early")
    }

    @Test func nestedMappingsAndListsAreCheckedWithTheirPaths() {
        #expect(Self.lines(#"{"ai": {"model": "m", "temprature": 0.5}}"#, as: Nested.self)
            == ["config.ai.temprature: unknown key; did you mean 'temperature'?"])
        #expect(Self.lines(#"{"ai": {"model": "m"}, "targets": [{"url": "http://a"}, {"url": 5}]}"#, as: Nested.self)
            == ["config.targets[1].url: expected a string, found an integer"])
        #expect(Self.lines(#"{"ai": {"model": "m"}, "targets": [{"url": "http://a", "wieght": 3}]}"#, as: Nested.self)
            == ["config.targets[0].wieght: unknown key; did you mean 'weight'?"])
        #expect(Self.lines(#"{"ai": {"model": "m"}, "targets": [{"url": "http://a", "weight": 300}]}"#, as: Nested.self)
            == ["config.targets[0].weight: expected an integer from 0 to 255, found 300"])
        #expect(Self.lines(#"{"ai": {"model": "m"}, "targets": [{"url": "not a url"}]}"#, as: Nested.self)
            == ["config.targets[0].url: expected a URL (scheme://…), found a string that is not one"])
        #expect(Self.lines(#"{"ai": "m"}"#, as: Nested.self) == ["config.ai: expected a mapping, found a string"])
    }

    @Test func aKeyThatNeedsQuotingIsQuotedInThePath() {
        #expect(Self.lines(#"{"database_url": "x", "batch.size": 5}"#, as: Settings.self)
            == [#"config."batch.size": unknown key; did you mean 'batch_size'?"#])
        #expect(Self.lines(#"{"database_url": "x", "say \"hi\"": 5}"#, as: Settings.self)
            == [#"config."say \"hi\"": unknown key; known keys: batch_size, database_url, mode"#])
    }

    @Test func severalTypesShareOneBlockAndAKeyIsUnknownOnlyWhenNoneTakesIt() throws {
        let config = PluginConfiguration(json: Data(#"{"database_url": "x", "ai_model": "m", "batch_size": 3}"#.utf8))
        let (settings, shared) = try config.decode(Settings.self, Shared.self)
        #expect(settings.batchSize == 3 && shared.aiModel == "m")

        let typo = PluginConfiguration(json: Data(#"{"database_url": "x", "ai_modle": "m"}"#.utf8))
        #expect(throws: PluginConfigurationError.self) { try typo.decode(Settings.self, Shared.self) }
        do {
            _ = try typo.decode(Settings.self, Shared.self)
        } catch {
            #expect(error.description == "config.ai_modle: unknown key; did you mean 'ai_model'?", "suggested among the keys of both")
        }
        let both = PluginConfiguration(json: Data(#"{"database_url": "x", "batch_size": "seven", "ai_temperature": "hot"}"#.utf8))
        do {
            _ = try both.decode(Settings.self, Shared.self)
            Issue.record("decoded")
        } catch {
            #expect(error.problems.map(\.description) == [
                "config.ai_temperature: expected a number, found a string",
                "config.batch_size: expected an integer, found a string",
            ], "the mistakes of every type at once")
        }
    }

    @Test func aTypeWhoseKeysDoNotListThemselvesDeclaresTheKeysItAsksFor() {
        #expect(Self.lines(#"{"name": "n", "cuont": 2}"#, as: Plain.self) == ["config.cuont: unknown key; did you mean 'count'?"])
        // Decoding stopped at `name`: `count` was never asked for, so no suggestion and no list of known keys,
        // but the coding keys still refuse `cuont`.
        #expect(Self.lines(#"{"name": 1, "cuont": 2}"#, as: Plain.self)
            == ["config.cuont: unknown key", "config.name: expected a string, found an integer"])
    }

    @Test func aDictionaryTakesEveryKey() throws {
        let values = try PluginConfiguration(json: Data(#"{"anything": "goes", "at": "all"}"#.utf8)).decode([String: String].self)
        #expect(values == ["anything": "goes", "at": "all"])
        #expect(Self.lines(#"{"anything": 1}"#, as: [String: String].self) == ["config.anything: expected a string, found an integer"])
    }

    @Test func aBlockThatIsNotAMappingIsRefusedAsAWhole() {
        #expect(Self.lines("[1]", as: Settings.self) == ["config: expected a mapping, found a list"])
        #expect(Self.lines("{", as: Settings.self).first?.hasPrefix("config: not valid JSON") == true)
    }

    @Test func aPluginRefusesAValueItsOwnRulesRejectAtItsKey() {
        #expect(PluginConfigurationError(at: "batch_size", message: "must be at least 1, found 0").description
            == "config.batch_size: must be at least 1, found 0")
        #expect(PluginConfigurationError(at: "ai", "model", message: "is not offered").description == "config.ai.model: is not offered")
        #expect(PluginConfigurationError(at: "odd key", message: "m").problems.map(\.path) == [#"config."odd key""#])
        #expect(PluginConfigurationError(description: "free text").description == "free text")
    }

    @Test func aRuleAnInitFromDecoderChecksIsPlacedAtItsKey() {
        struct Bounded: Decodable {
            var limit: Int
            enum CodingKeys: String, CodingKey, CaseIterable { case limit }
            init(from decoder: any Decoder) throws {
                let keys = try decoder.container(keyedBy: CodingKeys.self)
                limit = try keys.decode(Int.self, forKey: .limit)
                guard limit > 0 else {
                    throw DecodingError.dataCorruptedError(forKey: .limit, in: keys, debugDescription: "must be positive, found \(limit)")
                }
            }
        }
        #expect(Self.lines(#"{"limit": -1}"#, as: Bounded.self) == ["config.limit: must be positive, found -1"])
    }
}
