/// Every way loading or running a model can fail. Messages name the file, node and operator.
public enum InferenceError: Error, Equatable, CustomStringConvertible {
    case fileUnreadable(path: String, reason: String)
    case notONNX(path: String, reason: String)
    case unsupportedOperator(op: String, node: String)
    case unsupportedAttribute(node: String, op: String, detail: String)
    case missingInitializer(node: String, input: String)
    case missingInput(node: String, index: Int)
    case unsupportedDataType(tensor: String, dataType: Int)
    case malformedTensor(tensor: String, detail: String)
    case tooLarge(what: String, elements: Int, limit: Int)
    case shapeMismatch(node: String, detail: String)
    case badModel(detail: String)
    case wrongInputRank(expected: Int, got: Int)
    case wrongInputShape(expected: [Int], got: [Int])
    case unsupportedOpset(domain: String, version: Int)

    public var description: String {
        switch self {
        case let .fileUnreadable(path, reason): return "cannot read model file \(path): \(reason)"
        case let .notONNX(path, reason): return "\(path) is not a valid ONNX model: \(reason)"
        case let .unsupportedOperator(op, node): return "unsupported operator \(op) in node '\(node)'"
        case let .unsupportedAttribute(node, op, detail): return "node '\(node)' (\(op)): unsupported \(detail)"
        case let .missingInitializer(node, input): return "node '\(node)': input '\(input)' must be a constant initializer but none was found"
        case let .missingInput(node, index): return "node '\(node)': required input #\(index) is missing"
        case let .unsupportedDataType(tensor, dt): return "tensor '\(tensor)': unsupported data type \(dt)"
        case let .malformedTensor(tensor, detail): return "tensor '\(tensor)': \(detail)"
        case let .tooLarge(what, elements, limit): return "\(what) has \(elements) elements, above the limit of \(limit)"
        case let .shapeMismatch(node, detail): return "node '\(node)': shape error: \(detail)"
        case let .badModel(detail): return "invalid model: \(detail)"
        case let .wrongInputRank(expected, got): return "input has rank \(got), the model expects rank \(expected)"
        case let .wrongInputShape(expected, got): return "input shape \(got) does not match the model input \(expected) (batch may vary)"
        case let .unsupportedOpset(domain, version): return "unsupported opset \(domain.isEmpty ? "ai.onnx" : domain) version \(version) (supported: ai.onnx 7–17)"
        }
    }
}
