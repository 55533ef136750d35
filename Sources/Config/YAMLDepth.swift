import CYaml
import Settings

/// Nesting depth of a YAML text, measured with libyaml's event parser before Yams composes it.
/// libyaml parses iteratively (explicit state stack), so any depth is safe here; Yams' composer
/// recurses once per level, and a few thousand levels overflow an 8 MiB stack (rc 139).
enum YAMLDepth {
    /// The first collection that opens deeper than `limit`: its 1-based line and the depth
    /// reached; nil when the text stays within `limit` or has a syntax error before that
    /// (the composer then reports the syntax error itself, with its line).
    static func firstTooDeep(_ bytes: [UInt8], limit: Int) -> (line: Int, depth: Int)? {
        guard !bytes.isEmpty else { return nil }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        return bytes.withUnsafeBufferPointer { buf -> (line: Int, depth: Int)? in
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            var depth = 0
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    depth += 1
                    if depth > limit { return (Int(event.start_mark.line) + 1, depth) }
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    depth -= 1
                case YAML_STREAM_END_EVENT, YAML_NO_EVENT:
                    return nil
                default:
                    break
                }
            }
        }
    }
}
