//! A fixed group shared by the group fuzz targets: a root certificate to validate against
//! and a security provider (built once; deterministic seeds, as in group.md §10).

use std::sync::OnceLock;

use peergroup_base::UnixTime;
use peergroup_group::{Cert, CreateOptions, GroupKey, create_group};
use peergroup_identity::Identity;

/// 2026-11-25T18:51:39.250Z, the vectors' time.
pub const NOW: UnixTime = UnixTime::from_millis(1_795_632_699_250);

/// The group root certificate of a fixed group.
#[allow(dead_code)] // not every target that includes this module uses it
pub fn root() -> &'static Cert {
    static ROOT: OnceLock<Cert> = OnceLock::new();
    ROOT.get_or_init(|| {
        let creator = Identity::from_seed([7; 32], "creator", "").expect("identity");
        let key = GroupKey::from_seed([0x47; 32]).expect("group key");
        let group =
            create_group(&creator, key, &CreateOptions::new("fuzz"), NOW, [[1; 16], [2; 16]])
                .expect("group");
        group.root().clone()
    })
}
