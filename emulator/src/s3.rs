//! S3: s3s for the protocol (routing, XML, SigV4), s3s-fs for storage.
//!
//! Objects are plain files under `<data dir>/s3/<bucket>/<key>`, so a learner can
//! open what Firehose delivered with any editor. Signatures are checked against
//! the emulator's credentials (`test` / `test`), as LocalStack does.
//!
//! s3s-fs does almost everything as AWS does. Where it does not, [`Storage`]
//! stands in front of it and corrects the answer; every other operation goes
//! straight through.

use std::path::{Path, PathBuf};

use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;

use crate::config::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use crate::server::StartError;

pub fn service(root: &Path) -> Result<S3Service, StartError> {
    std::fs::create_dir_all(root).map_err(|source| StartError::DataDir {
        path: root.to_path_buf(),
        source,
    })?;
    let fs = FileSystem::new(root).map_err(|err| StartError::S3Storage {
        path: root.to_path_buf(),
        message: format!("{err:?}"),
    })?;
    let mut builder = S3ServiceBuilder::new(Storage {
        fs,
        root: root.to_path_buf(),
    });
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY_ID, SECRET_ACCESS_KEY));
    Ok(builder.build())
}

/// s3s-fs, corrected where it differs from AWS in ways the lab can see.
struct Storage {
    fs: FileSystem,
    root: PathBuf,
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

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.require_bucket(&req.input.bucket)?;
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.fs.put_object(req).await.inspect_err(|err| {
            // s3s-fs answers InternalError with no detail; its cause is here.
            if *err.code() == S3ErrorCode::InternalError {
                tracing::error!(bucket, key, "S3 could not store an object: {err:?}");
            }
        })
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.fs.copy_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.fs.create_multipart_upload(req).await
    }
}
    delegate {
        delete_bucket: DeleteBucketInput => DeleteBucketOutput;
        delete_object: DeleteObjectInput => DeleteObjectOutput;
        delete_objects: DeleteObjectsInput => DeleteObjectsOutput;
        get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
        get_object: GetObjectInput => GetObjectOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        head_object: HeadObjectInput => HeadObjectOutput;
        list_buckets: ListBucketsInput => ListBucketsOutput;
        list_objects: ListObjectsInput => ListObjectsOutput;
        list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
        upload_part: UploadPartInput => UploadPartOutput;
        upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput;
        list_parts: ListPartsInput => ListPartsOutput;
        complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput;
        abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
    }
}
