//! Finds the master key: from configuration (env or file), else from `data_dir/master.key`, else generates
//! one there with 0600 permissions and warns that several nodes must share it.

use anyhow::Context;
use std::path::Path;
use zauthy_core::crypto::MasterKey;

pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<MasterKey> {
    if let Some(text) = configured {
        return MasterKey::parse(text).context("master_key");
    }
    let path = data_dir.join("master.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return MasterKey::parse(&text).with_context(|| format!("{} is not a valid master key", path.display()));
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let key = MasterKey::generate();
    write_private(&path, &key.to_base64())?;
    tracing::warn!(
        path = %path.display(),
        "generated a new master key; back it up, and give every node the same one with ZAUTHY_MASTER_KEY or ZAUTHY_MASTER_KEY_FILE"
    );
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("creating {}", path.display()))
}
