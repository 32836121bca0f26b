import Foundation

/// A named list of problems ("shapes as data", like XNNPACK's bench/models and benchdnn's shape files).
///
/// Text format, one layer per line: `name problem [count]`, where `problem` is a text form, depthwise
/// (`n1c128h56w56k31s1p15`) or pointwise (`n1c128h56w56o512`), and `count` (default 1) says how many layers of a model share it. `#` starts a
/// comment; blank lines are ignored. Names are unique within a file.
public struct ShapeFile: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var problem: ConvProblem
        public var count: Int
        public init(name: String, problem: ConvProblem, count: Int = 1) {
            self.name = name; self.problem = problem; self.count = count
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// The depthwise problems, in file order, each once.
    public var depthwiseProblems: [Problem] { uniqueProblems.compactMap(\.depthwise) }

    /// Problems in file order, each once.
    public var uniqueProblems: [ConvProblem] {
        var seen = Set<ConvProblem>()
        return entries.map(\.problem).filter { seen.insert($0).inserted }
    }

    /// Parses `text`; `source` names it in errors ("file:line: …").
    public init(parsing text: String, source: String = "<shapes>") throws {
        var entries: [Entry] = []
        var names = Set<String>()
        // Any line end (LF, CRLF — one Character in Swift, so splitting on "\n" alone would miss it — or CR).
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: \.isWhitespace)
            if fields.isEmpty { continue }
            let at = "\(source):\(index + 1)"
            guard fields.count == 2 || fields.count == 3 else {
                throw ShapeFileError("\(at): expected 'name problem [count]', got \(fields.count) fields")
            }
            let name = String(fields[0])
            guard names.insert(name).inserted else { throw ShapeFileError("\(at): duplicate layer name '\(name)'") }
            let problem: ConvProblem
            do { problem = try ConvProblem(parsing: String(fields[1])) } catch { throw ShapeFileError("\(at): \(error)") }
            var count = 1
            if fields.count == 3 {
                guard let c = Int(fields[2]), c >= 1 else { throw ShapeFileError("\(at): count '\(fields[2])' is not a positive integer") }
                count = c
            }
            entries.append(Entry(name: name, problem: problem, count: count))
        }
        guard !entries.isEmpty else { throw ShapeFileError("\(source): no shapes") }
        self.entries = entries
    }

    /// Reads and parses a file.
    public static func load(path: String) throws -> ShapeFile {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ShapeFileError("\(path): cannot read shape file")
        }
        return try ShapeFile(parsing: text, source: path)
    }
}

public struct ShapeFileError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
