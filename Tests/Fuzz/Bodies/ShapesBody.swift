import DWCore
import DWFormats
import Foundation

/// An accepted shape file: names are unique, counts positive, every problem's text form parses back to
/// the same problem, and the file written in its own format reads back to the same entries.
func fuzzShapes(_ data: Data) {
    guard let text = String(data: data, encoding: .utf8), let file = try? ShapeFile(parsing: text) else { return }
    check(Set(file.entries.map(\.name)).count == file.entries.count, "duplicate names accepted")
    var lines: [String] = []
    for entry in file.entries {
        check(entry.count >= 1, "count \(entry.count) accepted")
        check((try? ConvProblem(parsing: entry.problem.description)) == entry.problem, "problem \(entry.problem) does not parse back")
        let (n, c, h, w) = entry.problem.outputShape
        check(n >= 1 && c >= 1 && h >= 1 && w >= 1, "problem \(entry.problem) has an empty output")
        lines.append("\(entry.name) \(entry.problem) \(entry.count)")
    }
    let again: ShapeFile
    do { again = try ShapeFile(parsing: lines.joined(separator: "\n")) } catch { return check(false, "written shape file rejected: \(error)") }
    check(again == file, "shape file changed on writing and reading back")
}
