/// The one error type of onnx-run: a kind, a message, and the node, input or file it concerns.
public struct ONNXRunError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What went wrong, broadly.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The file is not a valid ONNX model (bad protobuf, missing fields, broken graph).
        public static let invalidModel = Code(name: "invalid model")
        /// The model uses an operator (or an opset of it) this runtime does not implement.
        public static let unsupportedOperator = Code(name: "unsupported operator")
        /// A tensor element type the operation cannot handle.
        public static let unsupportedType = Code(name: "unsupported type")
        /// An input is missing, unknown, or of the wrong type or shape.
        public static let invalidInput = Code(name: "invalid input")
        /// Shapes of operands do not agree.
        public static let shapeMismatch = Code(name: "shape mismatch")
        /// An attribute is missing or has a wrong type or value.
        public static let invalidAttribute = Code(name: "invalid attribute")
        /// A value is out of range at run time (index, size).
        public static let outOfRange = Code(name: "out of range")
        /// Reading or writing a file failed.
        public static let io = Code(name: "I/O error")
        /// An input file (JSON, NPY, protobuf tensor) is malformed.
        public static let invalidData = Code(name: "invalid data")
        /// A configured resource limit was exceeded.
        public static let resourceLimit = Code(name: "resource limit")
        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// A one-line explanation naming what was expected.
    public var message: String
    /// The node, input or file the error concerns, if any.
    public var subject: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, subject: String? = nil) {
        self.code = code
        self.message = message
        self.subject = subject
    }

    public var description: String {
        if let subject { return "\(subject): \(message)" }
        return message
    }

    /// Returns the error with `subject` set when it has none yet.
    public func about(_ subject: String) -> ONNXRunError {
        var copy = self
        if copy.subject == nil { copy.subject = subject }
        return copy
    }
}
