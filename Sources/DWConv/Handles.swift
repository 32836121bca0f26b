import Foundation

// The handles of dwconv.h. A C caller can pass anything where a handle is expected: a handle it already
// destroyed, a context where a layer belongs, an uninitialised pointer. Handles are therefore not object
// addresses but tickets into a registry of live objects: a serial number (never reused) tagged with its kind,
// looked up under a lock on every call. Registry, not a magic word inside the object: a magic word has to be
// read from memory that a destroy may already have freed (or reused for another object), and an address that
// the allocator hands out again would make a stale handle name a new, unrelated object; a serial number that
// is never issued twice makes a destroyed handle detectable for the life of the process.
//
// Ownership: the registry holds the one reference the C caller owns. A lookup returns a strong reference,
// taken under the lock and kept for the rest of the call, so the lock is held for the lookup only (never
// during a convolution), and a destroy that races with a call on another thread (a caller bug) cannot free
// the object under it: the call either fails the lookup or finishes on the still-live object, which is freed
// when the last such call returns. A layer holds its context, so a context destroyed before its layers keeps
// its threads until its last layer is gone.

/// What a handle names; the raw value is the handle's low two bits.
enum HandleKind: UInt, CustomStringConvertible {
    case context = 1, layer = 2

    var description: String { self == .context ? "context" : "layer" }
}

/// The live handles (see above). Every access to its state is under `lock`.
final class HandleRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var live: [UInt: AnyObject] = [:]
    /// Serial numbers issued so far (the last one issued).
    private var issued: UInt = 0

    /// A new handle owning `object`.
    func register(_ object: AnyObject, as kind: HandleKind) -> OpaquePointer {
        lock.lock(); defer { lock.unlock() }
        issued += 1
        let bits = issued << 2 | kind.rawValue
        live[bits] = object
        return OpaquePointer(bitPattern: bits)!
    }

    /// The object behind a live handle of `kind`, or an error saying what the handle is instead.
    func object<T: AnyObject>(_ handle: OpaquePointer?, _ kind: HandleKind) throws -> T {
        lock.lock(); defer { lock.unlock() }
        let object = try entry(handle, kind)
        guard let typed = object as? T else { throw DWConvError(.invalidArgument, "\(kind) handle holds a \(type(of: object)), not a \(T.self)") }
        return typed
    }

    /// Ends a live handle of `kind` and returns its object, to be released by the caller after the lock.
    func remove(_ handle: OpaquePointer?, _ kind: HandleKind) throws -> AnyObject {
        lock.lock(); defer { lock.unlock() }
        let object = try entry(handle, kind)
        live[UInt(bitPattern: handle)] = nil
        return object
    }

    /// The live entry of `handle` if it is of `kind`; the caller holds `lock`.
    private func entry(_ handle: OpaquePointer?, _ kind: HandleKind) throws -> AnyObject {
        guard let handle else { throw DWConvError(.invalidArgument, "\(kind) is NULL") }
        let bits = UInt(bitPattern: handle), serial = bits >> 2, tag = HandleKind(rawValue: bits & 3)
        let name = "\(kind) handle \(handle)"
        guard let tag, serial >= 1, serial <= issued else {
            throw DWConvError(.invalidArgument, "\(name) was not returned by this library (an uninitialised or corrupted handle?)")
        }
        guard let object = live[bits] else {
            throw DWConvError(.invalidArgument, tag == kind ? "\(name) was already destroyed" : "\(name) is a destroyed \(tag), not a \(kind)")
        }
        guard tag == kind else { throw DWConvError(.invalidArgument, "\(name) is a \(tag), not a \(kind)") }
        return object
    }
}

/// Every handle this library has issued and not yet destroyed.
let handles = HandleRegistry()
