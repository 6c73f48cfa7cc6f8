//! Files: admins upload (`PUT /files/{name}`, streamed to storage, never held in memory) and
//! delete; every user lists and downloads, with single byte ranges, strong `ETag`s and
//! conditional requests.

mod disposition;
mod range;

use crate::state::State;
use crate::{
    auth::BearerAuth,
    conditional,
    errors::{self, Refusal, problem_for},
    json_types::{Nullable, Timestamp},
    paging::next_page_after,
    params::{FileNameParam, LimitParam, NameCursor},
    responses,
    responses::{FromProblem, reply},
    tags::Tag,
};
use domain::{
    PageRequest,
    files::{ByteStream, FileInfo, FileService},
    precondition::Precondition,
    users::PutOutcome,
};
use futures_util::{StreamExt, TryStreamExt};
use poem::{Body, Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, Object, OpenApi,
    param::{Header, Path, Query},
    payload::{Binary, Json},
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry},
};
use range::Wanted;

/// The operations that move file bytes, whose 503 may come from the file store as well.
pub(crate) const MOVING_BYTES: [&str; 2] = ["files_put", "files_get"];

/// What their 503 says of the file store.
pub(crate) const STORE_OUTAGE: &str = " For this operation, the file store too: it does not \
    answer, refuses, or is slower than the service waits for it (about a second; type \
    `storage-unavailable`), and nothing was stored.";

/// The files operations.
#[derive(Default)]
pub struct FilesApi;

/// A stored file.
#[derive(Object, Debug)]
pub struct FileOut {
    /// The file's name.
    name: String,
    /// Its length in bytes.
    size: u64,
    /// The SHA-256 of its bytes, lower-case hex (also its `ETag`).
    sha256: String,
    /// When a file of this name was first stored.
    created_at: Timestamp,
}

impl From<&FileInfo> for FileOut {
    fn from(file: &FileInfo) -> Self {
        Self {
            name: file.name.as_str().to_owned(),
            size: file.size,
            sha256: file.sha256.clone(),
            created_at: Timestamp(file.created_at),
        }
    }
}

/// A page of files, by name.
#[derive(Object, Debug)]
pub struct FilePage {
    /// The files of this page.
    items: Vec<FileOut>,
    /// The `cursor` of the next page, or null on the last page.
    #[oai(nullable)]
    next_cursor: Nullable<String>,
}

/// The raw bytes of an upload, streamed as they arrive. Any `Content-Type` (or none) is taken:
/// a file is bytes, whatever the client calls them.
pub struct Upload(ByteStream);

impl<'a> ApiExtractor<'a> for Upload {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(_registry: &mut Registry) {}

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/octet-stream",
                schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format(
                    "string", "binary",
                ))),
            }],
            // A PUT without a body has a body of zero bytes: an empty file.
            required: false,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let body = body.take()?;
        Ok(Self(body.into_bytes_stream().boxed()))
    }
}

/// The headers every answer about a file's bytes carries.
struct Representation {
    disposition: String,
    etag: String,
    last_modified: String,
}

impl Representation {
    fn of(file: &FileInfo) -> Self {
        Self {
            disposition: disposition::attachment(file.name.as_str()),
            etag: conditional::quoted(&file.sha256),
            last_modified: file
                .updated_at
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string(),
        }
    }
}

responses! {
    /// Responses of `PUT /files/{name}`.
    pub enum FilesPut {
        /// An existing file's bytes were replaced; `ETag` is the file's new one.
        #[oai(status = 200)]
        Replaced(Json<FileOut>, #[oai(header = "ETag")] String),
        /// The file was created; `Location` is its URL, `ETag` its entity tag.
        #[oai(status = 201)]
        Created(
            Json<FileOut>,
            #[oai(header = "Location")] String,
            #[oai(header = "ETag")] String,
        ),
    }
    guarded("Only an admin may upload files.");
    stores;
    problems {
        400 BadRequest: "The upload ended before all its bytes arrived; nothing was stored.",
        408 RequestTimeout: "The body came more slowly than the body timeout allows; nothing was done.",
        412 PreconditionFailed: "`If-Match` names no current `ETag` of the file (it changed, or does not exist), or `If-None-Match` names the current one (`*`: the file exists); nothing was stored.",
        413 PayloadTooLarge: "The upload is larger than the configured limit; nothing was stored.",
        422 Unprocessable: "The name is not 1 to 255 of A-Z, a-z, 0-9, '.', '_', '-' starting with a letter or digit.",
    }
}

responses! {
    /// Responses of `GET /files`.
    pub enum FilesList {
        /// A page of files by name; `Link` names the next page when there is one.
        #[oai(status = 200)]
        Ok(Json<FilePage>, #[oai(header = "Link")] Option<String>),
    }
    authenticated;
    problems {
        422 Unprocessable: "`limit` is not in 1..=100 or `cursor` is not one this service issued.",
    }
}

responses! {
    /// Responses of `GET /files/{name}`.
    pub enum FilesGet {
        /// The whole file.
        #[oai(status = 200)]
        Whole(
            Binary<Body>,
            #[oai(header = "Content-Length")] u64,
            #[oai(header = "Content-Disposition")] String,
            #[oai(header = "ETag")] String,
            #[oai(header = "Accept-Ranges")] String,
            #[oai(header = "Last-Modified")] String,
        ),
        /// The one byte range `Range` asked for; `Content-Range` says which.
        #[oai(status = 206)]
        Part(
            Binary<Body>,
            #[oai(header = "Content-Length")] u64,
            #[oai(header = "Content-Range")] String,
            #[oai(header = "Content-Disposition")] String,
            #[oai(header = "ETag")] String,
            #[oai(header = "Accept-Ranges")] String,
            #[oai(header = "Last-Modified")] String,
        ),
    }
    authenticated;
    problems {
        404 NotFound: "No file has this name.",
        #[oai(header(name = "Content-Range", ty = "String"))]
        416 RangeNotSatisfiable: "`Range` starts at or past the end; `Content-Range: bytes */{size}` gives the size.",
        422 Unprocessable: "The name is not a valid file name.",
    }
}

responses! {
    /// Responses of `HEAD /files/{name}`.
    pub enum FilesHead {
        /// The headers `GET` would send for the whole file (its `Content-Type` too), without its
        /// bytes.
        #[oai(status = 200)]
        Whole(
            Binary<Body>,
            #[oai(header = "Content-Length")] u64,
            #[oai(header = "Content-Disposition")] String,
            #[oai(header = "ETag")] String,
            #[oai(header = "Accept-Ranges")] String,
            #[oai(header = "Last-Modified")] String,
        ),
    }
    authenticated;
    problems {
        404 NotFound: "No file has this name.",
        422 Unprocessable: "The name is not a valid file name.",
    }
}

responses! {
    /// Responses of `DELETE /files/{name}`.
    pub enum FilesDelete {
        /// The file was deleted.
        #[oai(status = 204)]
        Deleted,
    }
    guarded("Only an admin may delete files.");
    bodiless;
    stores;
    problems {
        404 NotFound: "No file has this name.",
        412 PreconditionFailed: "`If-Match` names no current `ETag` of the file (it changed since, or does not exist); nothing was deleted.",
        422 Unprocessable: "The name is not a valid file name.",
    }
}

/// The precondition a write's `If-Match` and `If-None-Match` headers state about the file,
/// whose tag is its SHA-256 (its `ETag` without quotes).
fn precondition(if_match: Option<&str>, if_none_match: Option<&str>) -> Precondition<FileInfo> {
    Precondition::new(
        conditional::condition(if_match, if_none_match),
        |file: &FileInfo| file.sha256.clone(),
    )
}

#[OpenApi(tag = "Tag::Files")]
impl FilesApi {
    /// Upload a file
    ///
    /// For admins. Streams the body (any content type) to storage (a disk, or an S3 bucket that
    /// every instance shares), computing its size and SHA-256, and makes it the file's content
    /// in one step once storage holds all of it: an upload that fails or is cut short leaves the
    /// previous version whole. 201 when the file is new, 200 when replaced. No
    /// body stores an empty file.
    #[oai(path = "/files/:name", method = "put", operation_id = "files_put")]
    // poem-openapi documents each parameter from its own argument; these are the headers.
    #[allow(clippy::too_many_arguments)]
    async fn put(
        &self,
        auth: BearerAuth,
        req: &Request,
        files: State<'_, FileService>,
        /// The file's name.
        name: Path<FileNameParam>,
        /// Replace only while the file has one of these `ETag`s (`*`: while it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        /// `*`: create only, never replace an existing file.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        body: Upload,
    ) -> FilesPut {
        let precondition = precondition(if_match.0.as_deref(), if_none_match.0.as_deref());
        reply(
            req,
            files.put(&auth.0, &name.0.0, body.0, precondition).await,
            |(file, outcome)| {
                let out = Json(FileOut::from(&file));
                let etag = conditional::quoted(&file.sha256);
                match outcome {
                    PutOutcome::Created => {
                        FilesPut::Created(out, format!("/files/{}", file.name), etag)
                    }
                    PutOutcome::Replaced => FilesPut::Replaced(out, etag),
                }
            },
        )
    }

    /// List files
    #[oai(path = "/files", method = "get", operation_id = "files_list")]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        files: State<'_, FileService>,
        /// Most files in the page, 1 to 100.
        #[oai(default = "LimitParam::default_value")]
        limit: Query<LimitParam>,
        /// `next_cursor` of the previous page; absent for the first page.
        cursor: Query<Option<NameCursor>>,
    ) -> FilesList {
        let limit = limit.0.0;
        let page = PageRequest {
            after: cursor.0.map(|cursor| cursor.0),
            limit,
        };
        reply(req, files.list(&auth.0, page).await, |page| {
            let next = page.next_after.as_ref().map(|name| name.as_str());
            let (next_cursor, link) = next_page_after(req, limit, next);
            let items = page.items.iter().map(FileOut::from).collect();
            let next_cursor = Nullable(next_cursor);
            FilesList::Ok(Json(FilePage { items, next_cursor }), link)
        })
    }

    /// Download a file
    ///
    /// Streams the file from storage. A single `Range: bytes=…` gets 206 with that part; an
    /// `If-None-Match` naming the current `ETag` gets 304.
    #[oai(path = "/files/:name", method = "get", operation_id = "files_get")]
    #[allow(
        clippy::too_many_arguments,
        reason = "each argument is one documented part of the request"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        req: &Request,
        files: State<'_, FileService>,
        /// The file's name.
        name: Path<FileNameParam>,
        /// One byte range, `bytes=first-last`, `bytes=first-` or `bytes=-suffix`.
        #[oai(name = "Range")]
        range: Header<Option<String>>,
        /// Entity tags of copies the client has.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        /// Applies `Range` only while the file still has this `ETag`.
        #[oai(name = "If-Range")]
        if_range: Header<Option<String>>,
    ) -> FilesGet {
        let file = match files.get(&auth.0, &name.0.0).await {
            Ok(file) => file,
            Err(err) => return FilesGet::from_problem(problem_for(err, req.uri().path())),
        };
        let shown = Representation::of(&file);
        let accept = "bytes".to_owned();
        if conditional::names_current(if_none_match.0.as_deref(), &shown.etag) {
            // The edge answers 304 for this 200 (`conditional::not_modified`), as for every
            // representation; its bytes are not even opened.
            return FilesGet::Whole(
                Binary(Body::empty()),
                file.size,
                shown.disposition,
                shown.etag,
                accept,
                shown.last_modified,
            );
        }
        let wanted = if conditional::if_range_holds(if_range.0.as_deref(), &shown.etag) {
            range::wanted(range.0.as_deref(), file.size)
        } else {
            Wanted::Whole
        };
        // A range the client asked for gets 206 even when it covers the whole file: the client
        // resuming at offset 0 checks for `Content-Range`.
        let (part, partial) = match wanted {
            Wanted::Whole => (0..file.size, false),
            Wanted::Part(part) => (part, true),
            Wanted::Unsatisfiable => {
                let refusal = Refusal::RangeNotSatisfiable { size: file.size };
                return FilesGet::RangeNotSatisfiable(errors::refused(refusal, req.uri().path()));
            }
        };
        let bytes = match files.read(&file, part.clone()).await {
            Ok(bytes) => bytes,
            Err(err) => return FilesGet::from_problem(problem_for(err, req.uri().path())),
        };
        let length = part.end - part.start;
        let body = Binary(Body::from_bytes_stream(
            bytes.map_err(std::io::Error::other),
        ));
        if !partial {
            FilesGet::Whole(
                body,
                length,
                shown.disposition,
                shown.etag,
                accept,
                shown.last_modified,
            )
        } else {
            let content_range = format!("bytes {}-{}/{}", part.start, part.end - 1, file.size);
            FilesGet::Part(
                body,
                length,
                content_range,
                shown.disposition,
                shown.etag,
                accept,
                shown.last_modified,
            )
        }
    }

    /// A file's download headers
    ///
    /// What `GET` would answer for the whole file, without its bytes.
    #[oai(path = "/files/:name", method = "head", operation_id = "files_head")]
    async fn head(
        &self,
        auth: BearerAuth,
        req: &Request,
        files: State<'_, FileService>,
        /// The file's name.
        name: Path<FileNameParam>,
    ) -> FilesHead {
        // A matching `If-None-Match` gets the edge's 304, as every representation does.
        reply(req, files.get(&auth.0, &name.0.0).await, |file| {
            let shown = Representation::of(&file);
            FilesHead::Whole(
                Binary(Body::empty()),
                file.size,
                shown.disposition,
                shown.etag,
                "bytes".to_owned(),
                shown.last_modified,
            )
        })
    }

    /// Delete a file
    #[oai(
        path = "/files/:name",
        method = "delete",
        operation_id = "files_delete"
    )]
    async fn delete(
        &self,
        auth: BearerAuth,
        req: &Request,
        files: State<'_, FileService>,
        /// The file's name.
        name: Path<FileNameParam>,
        /// Delete only while the file has one of these `ETag`s (`*`: while it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> FilesDelete {
        let precondition = precondition(if_match.0.as_deref(), None);
        reply(
            req,
            files.delete(&auth.0, &name.0.0, precondition).await,
            |()| FilesDelete::Deleted,
        )
    }
}

#[cfg(test)]
mod tests;
