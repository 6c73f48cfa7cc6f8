//! The files service's sweep, over a store and records kept in memory: which blobs it removes,
//! which it leaves, and that it gives up an old upload only once the record says it may.

use super::*;
use crate::testing::ready;
use std::sync::Mutex;

/// Records and blobs in memory; `committing` makes the next `end_upload` find the record gone,
/// as when the upload commits between a sweep's read and its decision.
#[derive(Default)]
struct Memory {
    files: Mutex<HashSet<BlobId>>,
    uploads: Mutex<HashMap<BlobId, DateTime<Utc>>>,
    blobs: Mutex<Vec<BlobId>>,
    committing: Mutex<Option<BlobId>>,
}

#[async_trait]
impl FileRepository for Memory {
    async fn get(&self, _: &FileName) -> Result<Option<FileInfo>> {
        unreachable!("not read here")
    }
    async fn list(&self, _: Option<FileName>, _: usize) -> Result<Vec<FileInfo>> {
        unreachable!("not listed here")
    }
    async fn begin_upload(&self, blob: &BlobId, at: DateTime<Utc>) -> Result<()> {
        self.uploads.lock().unwrap().insert(blob.clone(), at);
        Ok(())
    }
    async fn end_upload(&self, blob: &BlobId) -> Result<bool> {
        if self.committing.lock().unwrap().as_ref() == Some(blob) {
            self.uploads.lock().unwrap().remove(blob);
            self.files.lock().unwrap().insert(blob.clone());
            return Ok(false);
        }
        Ok(self.uploads.lock().unwrap().remove(blob).is_some())
    }
    async fn put(&self, _: NewVersion, _: &Precondition<FileInfo>) -> Result<Put> {
        unreachable!("not written here")
    }
    async fn delete(&self, _: &FileName, _: &Precondition<FileInfo>) -> Result<BlobId> {
        unreachable!("not deleted here")
    }
    async fn blob_owners(&self) -> Result<BlobOwners> {
        Ok(BlobOwners {
            files: self.files.lock().unwrap().clone(),
            uploads: self.uploads.lock().unwrap().clone(),
        })
    }
}

#[async_trait]
impl BlobStore for Memory {
    fn allocate(&self) -> BlobId {
        unreachable!("not uploaded here")
    }
    async fn stage(&self, _: BlobId, _: ByteStream) -> Result<StagedBlob> {
        unreachable!("not uploaded here")
    }
    async fn read(&self, _: &BlobId, _: Range<u64>) -> Result<ByteStream> {
        unreachable!("not read here")
    }
    async fn remove(&self, blob: &BlobId) -> Result<()> {
        self.blobs.lock().unwrap().retain(|b| b != blob);
        Ok(())
    }
    async fn list(&self) -> Result<Vec<BlobId>> {
        Ok(self.blobs.lock().unwrap().clone())
    }
    async fn check(&self) -> Result<()> {
        Ok(())
    }
}

fn blob(name: &str) -> BlobId {
    BlobId(name.to_owned())
}

const GRACE: Duration = Duration::from_secs(600);

/// A sweep over `memory`: how many blobs it removed, and which are left (sorted).
fn swept(memory: &Arc<Memory>) -> (usize, Vec<String>) {
    let service = FileService::new(memory.clone(), memory.clone());
    let removed = ready(service.sweep(GRACE)).unwrap();
    let mut left: Vec<String> = memory
        .blobs
        .lock()
        .unwrap()
        .iter()
        .map(|b| b.0.clone())
        .collect();
    left.sort();
    (removed, left)
}

fn memory(blobs: &[&str], files: &[&str], uploads: &[(&str, i64)]) -> Arc<Memory> {
    let memory = Memory::default();
    *memory.blobs.lock().unwrap() = blobs.iter().map(|b| blob(b)).collect();
    *memory.files.lock().unwrap() = files.iter().map(|b| blob(b)).collect();
    *memory.uploads.lock().unwrap() = uploads
        .iter()
        .map(|(b, minutes_ago)| (blob(b), now() - chrono::Duration::minutes(*minutes_ago)))
        .collect();
    Arc::new(memory)
}

#[test]
fn a_sweep_removes_blobs_of_no_file_and_no_upload() {
    let memory = memory(&["file", "orphan"], &["file"], &[]);
    assert_eq!(swept(&memory), (1, vec!["file".into()]));
}

#[test]
fn a_sweep_leaves_an_upload_within_its_grace_and_gives_up_an_older_one() {
    let memory = memory(&["young", "old"], &[], &[("young", 1), ("old", 11)]);
    assert_eq!(swept(&memory), (1, vec!["young".into()]));
    let uploads = memory.uploads.lock().unwrap();
    assert!(uploads.contains_key(&blob("young")) && !uploads.contains_key(&blob("old")));
}

#[test]
fn an_old_upload_that_commits_before_the_sweep_gives_it_up_keeps_its_blob() {
    let memory = memory(&["late"], &[], &[("late", 30)]);
    *memory.committing.lock().unwrap() = Some(blob("late"));
    assert_eq!(swept(&memory), (0, vec!["late".into()]));
}

#[test]
fn an_old_upload_with_no_blob_listed_is_given_up_and_what_it_left_removed() {
    let memory = memory(&[], &[], &[("died", 30), ("arriving", 1)]);
    assert_eq!(swept(&memory), (0, vec![]));
    let uploads = memory.uploads.lock().unwrap();
    assert_eq!(uploads.keys().collect::<Vec<_>>(), [&blob("arriving")]);
}
