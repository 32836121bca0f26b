import CNuma

/// NUMA topology as libnuma reports it. On a single-node machine (or where libnuma reports NUMA as
/// unavailable) every query degrades to "one node" and nothing is bound.
public enum NUMA {
    /// Whether the kernel exposes NUMA and libnuma can use it.
    public static let isAvailable: Bool = numa_available() >= 0

    /// Number of configured memory nodes (≥ 1).
    public static let nodeCount: Int = isAvailable ? max(1, Int(numa_num_configured_nodes())) : 1

    /// True when placement matters: more than one node.
    public static var isMultiNode: Bool { nodeCount > 1 }

    /// Binds the calling thread to `node`'s CPUs (no-op on a single-node machine).
    public static func runCurrentThread(onNode node: Int) {
        guard isMultiNode else { return }
        _ = numa_run_on_node(Int32(node % nodeCount))
    }
}
