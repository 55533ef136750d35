import CVBridge

/// An OpenCV failure reported by the CVBridge shim (C++ exceptions never cross into Swift).
public struct CVError: Error, CustomStringConvertible {
    public var operation: String
    public var message: String
    public var description: String { "\(operation): \(message)" }

    public init(_ operation: String, _ err: cvb_error) {
        self.operation = operation
        self.message = withUnsafeBytes(of: err.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    /// A failure found before OpenCV was called (a file that is not regular, an image too large).
    public init(operation: String, message: String) {
        self.operation = operation
        self.message = message
    }
}

/// Calls a bridge function that reports through `cvb_error`, throwing on failure.
@inline(__always)
public func cvCall(_ operation: @autoclosure () -> String, _ body: (UnsafeMutablePointer<cvb_error>) -> Int32) throws {
    var err = cvb_error()
    if body(&err) == 0 { throw CVError(operation(), err) }
}
