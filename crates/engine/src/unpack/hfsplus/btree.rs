//! The B-trees of an HFS+ volume (catalog, extents overflow, attributes):
//! the header node's checks, nodes read through the tree file's extents,
//! and the records of the leaf nodes in the order their forward links
//! give, each node at most once.

use std::collections::HashSet;

use super::{Volume, be16, be32};

/// Node kinds, from the descriptor's signed byte.
const LEAF: u8 = 0xff;
const HEADER: u8 = 1;

/// The node descriptor before a node's records.
const DESCRIPTOR: usize = 14;

/// Which tree: the checks ClamAV makes on its header differ.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Extents,
    Catalog,
    Attributes,
}

pub(super) struct Tree {
    /// The tree file's place on the volume: (file offset, first block,
    /// block count).
    runs: Vec<(u64, u32, u32)>,
    /// The tree file's length in bytes.
    size: u64,
    node_size: usize,
    total_nodes: u32,
    first_leaf: u32,
}

impl Tree {
    /// The tree whose file is `runs` (`size` bytes), if its header node
    /// holds: ClamAV's checks of TN1150's rules (a power-of-two node
    /// size, 4 KiB at least for the catalog and attributes, sane key
    /// lengths).
    pub(super) fn open(
        v: &Volume<'_>,
        runs: Vec<(u64, u32, u32)>,
        size: u64,
        kind: Kind,
    ) -> Option<Tree> {
        let first = v.fork_bytes(&runs, size, 0, 512)?;
        if first[8] != HEADER
            || be32(&first, 4) != 0
            || first[9] != 0
            || be16(&first, 10) != 3
        {
            return None;
        }
        let h = &first[DESCRIPTOR..];
        let node_size = be16(h, 18);
        let max_key = be16(h, 20);
        let min = if kind == Kind::Extents { 512 } else { 4096 };
        let key_ok = match kind {
            Kind::Extents => max_key == 10,
            Kind::Catalog => {
                (6..=516).contains(&max_key) && max_key <= node_size / 2
            }
            Kind::Attributes => true,
        };
        if !node_size.is_power_of_two()
            || !(min..=32768).contains(&node_size)
            || !key_ok
        {
            return None;
        }
        Some(Tree {
            runs,
            size,
            node_size: usize::from(node_size),
            total_nodes: be32(h, 22),
            first_leaf: be32(h, 10),
        })
    }

    pub(super) fn total_nodes(&self) -> u32 {
        self.total_nodes
    }

    pub(super) fn node_size(&self) -> usize {
        self.node_size
    }

    fn node(&self, v: &Volume<'_>, n: u32) -> Option<Vec<u8>> {
        if n >= self.total_nodes {
            return None;
        }
        let at = u64::from(n).checked_mul(self.node_size as u64)?;
        v.fork_bytes(&self.runs, self.size, at, self.node_size)
    }

    /// Hands each record of each leaf node to `each` (its bytes, key
    /// first), from the first leaf along the forward links, until `each`
    /// returns false. Returns false when the chain was damaged: a node
    /// that cannot be read or is no leaf, a link back to a node already
    /// read, a record outside its node (that record alone is passed
    /// over).
    pub(super) fn leaves(
        &self,
        v: &Volume<'_>,
        mut each: impl FnMut(&[u8]) -> bool,
    ) -> bool {
        let mut seen = HashSet::new();
        let mut n = self.first_leaf;
        let mut intact = true;
        while n != 0 {
            if !seen.insert(n) {
                return false;
            }
            let Some(node) = self.node(v, n) else { return false };
            let count = usize::from(be16(&node, 10));
            if node[8] != LEAF || node[9] != 1 || count > self.node_size / 4 {
                return false;
            }
            // The offsets run back from the node's end, one more than
            // there are records: the last says where free space begins.
            let table = self.node_size - 2 * (count + 1);
            for i in 0..count {
                let from =
                    usize::from(be16(&node, self.node_size - 2 * (i + 1)));
                let to =
                    usize::from(be16(&node, self.node_size - 2 * (i + 2)));
                if from < DESCRIPTOR || to <= from || to > table {
                    intact = false;
                    continue;
                }
                if !each(&node[from..to]) {
                    return intact;
                }
            }
            n = be32(&node, 0);
        }
        intact
    }
}
