import Foundation
import HTTPTypes
import Hummingbird

/// JSON responses, in one style: snake_case keys, ISO 8601 dates, errors as `{"error": "..."}`.
enum Reply {
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        do {
            return bytes(try encoder.encode(value) + [UInt8(ascii: "\n")], status: status)
        } catch {
            return self.error(.internalServerError, "cannot encode the answer: \(error)")
        }
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(["error": message], status: status)
    }

    static func bytes(_ body: some Collection<UInt8>, status: HTTPResponse.Status = .ok, type: String = "application/json") -> Response {
        Response(
            status: status, headers: [.contentType: type, .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
}
