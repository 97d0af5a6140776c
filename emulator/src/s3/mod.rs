//! S3: s3s for the protocol (routing, XML, SigV4), s3s-fs for storage.
//!
//! Objects are plain files under `<data dir>/s3/<bucket>/<key>`, so a learner can
//! open what Firehose delivered with any editor. Signatures are checked against
//! the emulator's credentials, `test` / `test` ([`auth`]).
//!
//! s3s-fs does almost everything as AWS does. Where it does not, [`Storage`]
//! stands in front of it and corrects the answer:
//! - every key is escaped on its way in and decoded on its way out ([`keys`]),
//!   so that any key AWS takes (`../x`, `/a`, `a//b`, 1,024 bytes) is stored
//!   inside its own bucket and read back exactly; listings are paged over the
//!   decoded keys ([`listing`]);
//! - writing to a bucket that does not exist is `NoSuchBucket`, not a new bucket.

pub mod auth;
pub mod keys;
pub mod listing;

use std::path::{Path, PathBuf};

use s3s::dto::*;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;

use self::keys::Decoded;

/// AWS's limit on a key, in bytes of UTF-8.
const MAX_KEY_BYTES: usize = 1024;

/// Why S3's storage could not be set up; the server reports it as a reason
/// not to start.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot use the data directory {}: {source}", path.display())]
    Dir { path: PathBuf, source: std::io::Error },
    #[error("cannot set up S3 storage in {}: {message}", path.display())]
    Files { path: PathBuf, message: String },
}

/// S3 over `root` (`<data dir>/s3`); keys too long for file names are
/// recorded in `long_keys` (`<data dir>/s3-long-keys`).
pub fn service(root: &Path, long_keys: &Path) -> Result<S3Service, StorageError> {
    for dir in [root, long_keys] {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let fs = FileSystem::new(root).map_err(|err| StorageError::Files {
        path: root.to_path_buf(),
        message: format!("{err:?}"),
    })?;
    let mut builder = S3ServiceBuilder::new(Storage {
        fs,
        root: root.to_path_buf(),
        long_keys: long_keys.to_path_buf(),
    });
    builder.set_auth(auth::Credentials);
    Ok(builder.build())
}

/// s3s-fs, corrected where it differs from AWS in ways the lab can see.
struct Storage {
    fs: FileSystem,
    root: PathBuf,
    long_keys: PathBuf,
}

impl Storage {
    /// s3s-fs creates a missing bucket's directory when an object is written to
    /// it; AWS answers `NoSuchBucket`. Firehose's retry of a delivery to a bucket
    /// that does not exist yet depends on that answer.
    fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        // s3s has already checked the name (no `/`, no `..`).
        if self.root.join(bucket).is_dir() {
            Ok(())
        } else {
            Err(s3_error!(NoSuchBucket, "The specified bucket does not exist"))
        }
    }

    fn forms(bucket: &str, key: &str) -> S3Result<keys::Forms> {
        if key.len() > MAX_KEY_BYTES {
            return Err(s3_error!(KeyTooLongError, "Your key is too long"));
        }
        Ok(keys::forms(bucket, key))
    }

    /// Where `key` is stored now: its plain path if a file is there, else its
    /// long form (which may hold nothing, for s3s-fs to answer `NoSuchKey`).
    fn stored(&self, bucket: &str, key: &str) -> S3Result<Place> {
        let forms = Self::forms(bucket, key)?;
        let plain = forms
            .path
            .clone()
            .filter(|path| self.root.join(bucket).join(path).is_file());
        Ok(Place::new(forms, plain))
    }

    /// Where `key` is to be written: its plain path, unless the file system
    /// cannot hold it there (a directory in the way, or a file where a
    /// directory must be).
    fn writable(&self, bucket: &str, key: &str) -> S3Result<Place> {
        let forms = Self::forms(bucket, key)?;
        let bucket_dir = self.root.join(bucket);
        let plain = forms.path.clone().filter(|path| {
            let file = bucket_dir.join(path);
            let crosses_a_file = file
                .ancestors()
                .skip(1)
                .take_while(|dir| *dir != bucket_dir)
                .any(Path::is_file);
            !crosses_a_file && !file.is_dir()
        });
        Ok(Place::new(forms, plain))
    }

    /// Records a long key before its object is written, so that an object on
    /// disk always has its key.
    async fn remember(&self, bucket: &str, key: &str, place: &Place) -> S3Result<()> {
        if place.is_long() {
            let file = keys::long_key_file(&self.long_keys, bucket, &place.forms.digest);
            let written = async {
                tokio::fs::create_dir_all(file.parent().expect("a key file is in a bucket's directory"))
                    .await?;
                tokio::fs::write(&file, key).await
            };
            written.await.map_err(|err| {
                tracing::error!(bucket, "cannot record a long key in {}: {err}", file.display());
                s3_error!(InternalError, "cannot record a long key")
            })?;
        }
        Ok(())
    }

    /// After a write to its plain path, a key's long form is out of date.
    async fn settle(&self, bucket: &str, place: &Place) {
        if !place.is_long() {
            self.forget_long(bucket, &place.forms).await;
        }
    }

    async fn forget_long(&self, bucket: &str, forms: &keys::Forms) {
        let long = self.root.join(bucket).join(&forms.long);
        if tokio::fs::remove_file(&long).await.is_ok() {
            let _ = tokio::fs::remove_file(keys::long_key_file(&self.long_keys, bucket, &forms.digest)).await;
        }
    }

    /// Every object of a bucket, with the keys users gave them.
    async fn all_objects(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<Vec<Object>> {
        let bucket = req.input.bucket.clone();
        let req = req.map_input(|input| ListObjectsV2Input {
            bucket: input.bucket,
            max_keys: Some(i32::MAX),
            ..ListObjectsV2Input::default()
        });
        let stored = self
            .fs
            .list_objects_v2(req)
            .await?
            .output
            .contents
            .unwrap_or_default();
        let mut objects = Vec::with_capacity(stored.len());
        for mut object in stored {
            let Some(path) = object.key.take() else { continue };
            let key = match keys::decode(&path) {
                Decoded::Key(key) => key,
                Decoded::Long(digest) => {
                    let file = keys::long_key_file(&self.long_keys, &bucket, &digest);
                    match tokio::fs::read_to_string(&file).await {
                        Ok(key) => key,
                        Err(err) => {
                            tracing::warn!(
                                bucket,
                                path,
                                "an object's long key is missing ({err}); not listing it"
                            );
                            continue;
                        }
                    }
                }
            };
            object.key = Some(key);
            objects.push(object);
        }
        Ok(objects)
    }
}

/// The path chosen for a key, with both of its forms.
struct Place {
    forms: keys::Forms,
    path: String,
}

impl Place {
    fn new(forms: keys::Forms, plain: Option<String>) -> Place {
        let path = plain.unwrap_or_else(|| forms.long.clone());
        Place { forms, path }
    }

    fn is_long(&self) -> bool {
        self.path == self.forms.long
    }
}

/// Implements `S3` for `Storage`: the methods written out, plus one that goes
/// straight to s3s-fs for each operation listed under `delegate`. The whole impl
/// is generated so that `async_trait` sees the delegated methods too.
macro_rules! storage_impl {
    (
        { $($written:tt)* }
        delegate { $($operation:ident: $input:ty => $output:ty;)* }
    ) => {
        #[async_trait::async_trait]
        impl S3 for Storage {
            $($written)*
            $(
                async fn $operation(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.fs.$operation(req).await
                }
            )*
        }
    };
}

storage_impl! {{
    /// One account owns every bucket here, so an existing bucket is always
    /// "already owned by you", the answer idempotent set-up code expects.
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await.map_err(|err| {
            if *err.code() == S3ErrorCode::BucketAlreadyExists {
                s3_error!(BucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it.")
            } else {
                err
            }
        })
    }

    async fn put_object(&self, mut req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.require_bucket(&bucket)?;
        let place = self.writable(&bucket, &key)?;
        self.remember(&bucket, &key, &place).await?;
        req.input.key = place.path.clone();
        let output = self.fs.put_object(req).await.inspect_err(|err| {
            // s3s-fs answers InternalError with no detail; its cause is here.
            if *err.code() == S3ErrorCode::InternalError {
                tracing::error!(bucket, key, "S3 could not store an object: {err:?}");
            }
        })?;
        self.settle(&bucket, &place).await;
        Ok(output)
    }

    async fn get_object(&self, mut req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        req.input.key = self.stored(&req.input.bucket, &req.input.key)?.path;
        self.fs.get_object(req).await
    }

    async fn head_object(&self, mut req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        req.input.key = self.stored(&req.input.bucket, &req.input.key)?.path;
        self.fs.head_object(req).await
    }

    async fn delete_object(&self, mut req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let bucket = req.input.bucket.clone();
        let place = self.stored(&bucket, &req.input.key)?;
        req.input.key = place.path.clone();
        let output = self.fs.delete_object(req).await?;
        self.forget_long(&bucket, &place.forms).await;
        Ok(output)
    }

    async fn delete_objects(&self, mut req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = req.input.bucket.clone();
        // Stored path -> the key asked for, to answer with the keys asked for.
        let mut asked = std::collections::HashMap::new();
        for object in &mut req.input.delete.objects {
            let place = self.stored(&bucket, &object.key)?;
            let key = std::mem::replace(&mut object.key, place.path.clone());
            asked.insert(place.path.clone(), (key, place.forms));
        }
        let mut output = self.fs.delete_objects(req).await?;
        for deleted in output.output.deleted.iter_mut().flatten() {
            if let Some((key, forms)) = deleted.key.as_ref().and_then(|path| asked.get(path)) {
                self.forget_long(&bucket, forms).await;
                deleted.key = Some(key.clone());
            }
        }
        for error in output.output.errors.iter_mut().flatten() {
            if let Some((key, _)) = error.key.as_ref().and_then(|path| asked.get(path)) {
                error.key = Some(key.clone());
            }
        }
        Ok(output)
    }

    async fn copy_object(&self, mut req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.require_bucket(&bucket)?;
        if let CopySource::Bucket { bucket, key, .. } = &mut req.input.copy_source {
            *key = self.stored(bucket, key)?.path.into();
        }
        let place = self.writable(&bucket, &key)?;
        self.remember(&bucket, &key, &place).await?;
        req.input.key = place.path.clone();
        let output = self.fs.copy_object(req).await?;
        self.settle(&bucket, &place).await;
        Ok(output)
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input.clone();
        let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000);
        let after = [input.continuation_token.as_deref(), input.start_after.as_deref()]
            .into_iter()
            .flatten()
            .max();
        let query = listing::Query {
            prefix: input.prefix.as_deref().unwrap_or(""),
            delimiter: input.delimiter.as_deref(),
            after,
            max_keys: usize::try_from(max_keys).unwrap_or(0),
        };
        let page = listing::page(self.all_objects(req).await?, &query);
        let returned = page.objects.len() + page.common_prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            max_keys: Some(max_keys),
            key_count: Some(i32::try_from(returned).unwrap_or(i32::MAX)),
            is_truncated: Some(page.next.is_some()),
            next_continuation_token: page.next,
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            encoding_type: input.encoding_type,
            contents: Some(page.objects),
            common_prefixes: Some(common_prefixes(page.common_prefixes)),
            ..ListObjectsV2Output::default()
        }))
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input.clone();
        let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000);
        let query = listing::Query {
            prefix: input.prefix.as_deref().unwrap_or(""),
            delimiter: input.delimiter.as_deref(),
            after: input.marker.as_deref(),
            max_keys: usize::try_from(max_keys).unwrap_or(0),
        };
        let req = req.map_input(|input| ListObjectsV2Input {
            bucket: input.bucket,
            ..ListObjectsV2Input::default()
        });
        let page = listing::page(self.all_objects(req).await?, &query);
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            marker: input.marker,
            max_keys: Some(max_keys),
            is_truncated: Some(page.next.is_some()),
            next_marker: page.next,
            encoding_type: input.encoding_type,
            contents: Some(page.objects),
            common_prefixes: Some(common_prefixes(page.common_prefixes)),
            ..ListObjectsOutput::default()
        }))
    }

    // A multipart upload's key goes where a put of the same key would; s3s-fs
    // finds the parts by upload id.
    async fn create_multipart_upload(
        &self,
        mut req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.require_bucket(&bucket)?;
        req.input.key = self.writable(&bucket, &key)?.path;
        let mut output = self.fs.create_multipart_upload(req).await?;
        output.output.key = Some(key);
        Ok(output)
    }

    async fn upload_part(&self, mut req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        req.input.key = self.writable(&req.input.bucket, &req.input.key)?.path;
        self.fs.upload_part(req).await
    }

    async fn upload_part_copy(&self, mut req: S3Request<UploadPartCopyInput>) -> S3Result<S3Response<UploadPartCopyOutput>> {
        req.input.key = self.writable(&req.input.bucket, &req.input.key)?.path;
        if let CopySource::Bucket { bucket, key, .. } = &mut req.input.copy_source {
            *key = self.stored(bucket, key)?.path.into();
        }
        self.fs.upload_part_copy(req).await
    }

    async fn list_parts(&self, mut req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let key = req.input.key.clone();
        req.input.key = self.writable(&req.input.bucket, &key)?.path;
        let mut output = self.fs.list_parts(req).await?;
        output.output.key = Some(key);
        Ok(output)
    }

    async fn complete_multipart_upload(
        &self,
        mut req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.require_bucket(&bucket)?;
        let place = self.writable(&bucket, &key)?;
        self.remember(&bucket, &key, &place).await?;
        req.input.key = place.path.clone();
        let mut output = self.fs.complete_multipart_upload(req).await?;
        self.settle(&bucket, &place).await;
        output.output.key = Some(key);
        Ok(output)
    }

    async fn abort_multipart_upload(
        &self,
        mut req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        req.input.key = self.writable(&req.input.bucket, &req.input.key)?.path;
        self.fs.abort_multipart_upload(req).await
    }
}
    delegate {
        delete_bucket: DeleteBucketInput => DeleteBucketOutput;
        get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        list_buckets: ListBucketsInput => ListBucketsOutput;
    }
}

fn common_prefixes(prefixes: Vec<String>) -> Vec<CommonPrefix> {
    prefixes
        .into_iter()
        .map(|prefix| CommonPrefix { prefix: Some(prefix) })
        .collect()
}
