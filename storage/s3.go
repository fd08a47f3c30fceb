package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// S3 is an object store in an S3 bucket (AWS, or any server speaking the S3
// API, such as MinIO), under an optional key prefix.
//
// Reads are ranged GetObjects. A body that breaks off or stalls midway is
// resumed from the first missing byte, pinned to the ETag of the first
// response (If-Match) so that a resumed read never splices two versions.
//
// Writes are invisible until Commit: an object that fits in one part goes
// up as a single PutObject at Commit; a larger one as a multipart upload
// whose parts are sent while the writer fills the next one (bounded memory)
// and which becomes an object only at CompleteMultipartUpload. Abort (or a
// failed Commit) aborts the upload. IfAbsent is S3's conditional write,
// If-None-Match: * on PutObject or CompleteMultipartUpload: the server
// decides atomically, and a losing writer gets 412, reported as ErrExists.
// (AWS S3 has supported it since August 2024, MinIO since 2024 as well; the
// conformance suite checks the race against a real MinIO.)
//
// Requests are retried by the SDK's standard retryer, with exponential,
// jittered backoff, on throttling (SlowDown, 503), 5xx and network errors.
type S3 struct {
	client      *s3.Client
	bucket      string
	prefix      string // "" or ending in "/"
	url         string
	opts        S3Options
	backoff     *retry.ExponentialJitterBackoff
	metrics     *Metrics
	partPool    sync.Pool
	maxAttempts int
}

var _ Store = (*S3)(nil)

// S3Options configure NewS3. The zero value takes everything from the
// standard AWS environment.
type S3Options struct {
	// Endpoint overrides the endpoint from AWS_ENDPOINT_URL_S3,
	// AWS_ENDPOINT_URL or the profile's endpoint_url, e.g.
	// "http://127.0.0.1:9000" for a MinIO.
	Endpoint string
	// Region overrides AWS_REGION and the profile's region; with none of
	// them set, "us-east-1" (what MinIO and most S3-compatible servers
	// expect).
	Region string
	// PathStyle asks for path-style addressing (http://host/bucket/key)
	// rather than virtual-hosted style (http://bucket.host/key). It is used
	// anyway whenever a custom endpoint is set, by option or environment,
	// since S3-compatible servers rarely have per-bucket DNS names.
	PathStyle bool
	// Credentials replace the default credentials chain (environment,
	// shared files, SSO, web identity, container and instance roles).
	// aws.AnonymousCredentials{} reads public buckets.
	Credentials aws.CredentialsProvider
	// MaxAttempts bounds the attempts per request, the first included.
	// Default: AWS_MAX_ATTEMPTS or the profile's max_attempts if set, else 5.
	MaxAttempts int
	// MaxBackoff caps the delay between attempts. Default 5s.
	MaxBackoff time.Duration
	// Timeout is the longest one attempt waits on the network: to connect,
	// for a response's headers, for the next bytes of a body being read, or
	// for the server to take the next bytes of a body being sent. It is not
	// a deadline for a whole transfer, which may take as long as it makes
	// progress. Default 1 minute.
	Timeout time.Duration
	// PartSize is the part size of multipart uploads, and the size up to
	// which an object is sent as one PutObject. Default 8 MiB; S3 needs at
	// least 5 MiB and allows 10,000 parts, so the default caps an object
	// at 78 GiB.
	PartSize int
	// UploadConcurrency is how many parts one writer sends at once. A
	// writer holds at most UploadConcurrency+1 parts in memory. Default 2.
	UploadConcurrency int
}

const (
	defaultPartSize = 8 << 20
	minPartSize     = 5 << 20
	maxParts        = 10000
)

// s3Calls are the S3 operations the store uses, for Metrics.Calls.
var s3Calls = []string{
	"HeadObject", "GetObject", "ListObjectsV2", "PutObject", "DeleteObject",
	"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload",
	"CreateBucket", "HeadBucket",
}

// NewS3 returns a store for the objects under prefix ("" or a key prefix
// such as "lake/"; a missing trailing slash is added) in bucket. It reads
// the AWS configuration (environment, ~/.aws/config and credentials) but
// sends no request: a wrong bucket or credentials show at the first use.
func NewS3(ctx context.Context, bucket, prefix string, opts S3Options) (*S3, error) {
	if bucket == "" || strings.ContainsAny(bucket, "/\\") {
		return nil, fmt.Errorf("storage: invalid S3 bucket name %q", bucket)
	}
	if prefix = strings.TrimSuffix(prefix, "/"); prefix != "" {
		if err := ValidKey(prefix); err != nil {
			return nil, fmt.Errorf("storage: S3 prefix: %w", err)
		}
		prefix += "/"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Minute
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	if opts.PartSize == 0 {
		opts.PartSize = defaultPartSize
	}
	if opts.PartSize < minPartSize {
		return nil, fmt.Errorf("storage: S3 part size %d is below S3's minimum of 5 MiB", opts.PartSize)
	}
	if opts.UploadConcurrency <= 0 {
		opts.UploadConcurrency = 2
	}

	var loadOpts []func(*config.LoadOptions) error
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	if opts.Credentials != nil {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("storage: s3://%s/%s: loading the AWS configuration: %w", bucket, prefix, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}

	s := &S3{
		bucket:  bucket,
		prefix:  prefix,
		url:     "s3://" + bucket + "/" + prefix,
		opts:    opts,
		backoff: retry.NewExponentialJitterBackoff(opts.MaxBackoff),
		metrics: newMetrics(s3Calls...),
	}
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = opts.Timeout }).
		WithTransportOptions(func(t *http.Transport) {
			t.ResponseHeaderTimeout = opts.Timeout
			// A Parquet scan reads many ranges at once from one host;
			// the default of 10 idle connections would churn.
			t.MaxIdleConns = 256
			t.MaxIdleConnsPerHost = 128
		})
	s.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.HTTPClient = httpClient
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		if opts.PathStyle || o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
		s.maxAttempts = opts.MaxAttempts
		if s.maxAttempts <= 0 {
			s.maxAttempts = o.RetryMaxAttempts // AWS_MAX_ATTEMPTS, max_attempts
		}
		if s.maxAttempts <= 0 {
			s.maxAttempts = 5
		}
		o.RetryMaxAttempts = 0
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = s.maxAttempts
			so.MaxBackoff = opts.MaxBackoff
			so.Backoff = s.backoff
			// AWS answers a conditional write that raced another with 409
			// ConditionalRequestConflict and asks for a retry, which then
			// gets the definite 412 or success.
			so.Retryables = append(so.Retryables, retry.RetryableErrorCode{
				Codes: map[string]struct{}{"ConditionalRequestConflict": {}},
			})
		})
		// Ranges are read, not whole objects, and S3 has no checksum for
		// a range; validating would only cost CPU on the full reads.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.APIOptions = append(o.APIOptions, s.countCalls)
	})
	s.partPool.New = func() any { b := make([]byte, 0, opts.PartSize); return &b }
	return s, nil
}

// countCalls adds a middleware that counts each attempt of each operation
// (it sits after the retry middleware, which loops over what follows it).
func (s *S3) countCalls(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("weirCountCalls",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			s.metrics.call(awsmiddleware.GetOperationName(ctx))
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// String returns "s3://bucket/prefix/".
func (s *S3) String() string { return s.url }

// Metrics returns the store's counters.
func (s *S3) Metrics() *Metrics { return s.metrics }

// Client returns the S3 client, for operations the Store interface lacks
// (tests create buckets with it).
func (s *S3) Client() *s3.Client { return s.client }

// Bucket returns the store's bucket.
func (s *S3) Bucket() string { return s.bucket }

func (s *S3) objectKey(key string) string { return s.prefix + key }

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, key string) (info ObjectInfo, err error) {
	defer func() { s.metrics.request(KindStat, err) }()
	if err := ValidKey(key); err != nil {
		return ObjectInfo{}, objectError(s, "stat", key, err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.objectKey(key))})
	if err != nil {
		return ObjectInfo{}, objectError(s, "stat", key, s.mapError(err, "s3:GetObject"))
	}
	return ObjectInfo{
		Key:     key,
		Size:    aws.ToInt64(out.ContentLength),
		ModTime: aws.ToTime(out.LastModified),
		ETag:    trimETag(out.ETag),
	}, nil
}

func trimETag(etag *string) string { return strings.Trim(aws.ToString(etag), `"`) }

// ReadAt implements Store.
func (s *S3) ReadAt(ctx context.Context, key string, p []byte, off int64) (n int, err error) {
	defer func() {
		s.metrics.request(KindRead, err)
		s.metrics.read(n)
	}()
	if err := ValidKey(key); err != nil {
		return 0, objectError(s, "read", key, err)
	}
	if off < 0 {
		return 0, objectError(s, "read", key, errNegativeOffset)
	}
	if len(p) == 0 {
		// No range can be empty; ask whether the object exists instead.
		_, err := s.Stat(ctx, key)
		return 0, err
	}
	var etag *string // pinned by the first response
	failures := 0
	for n < len(p) {
		m, eof, tag, err := s.getRange(ctx, key, p[n:], off+int64(n), etag)
		n += m
		if etag == nil && tag != nil && *tag != "" {
			etag = tag
		}
		switch {
		case err == nil && eof:
			return n, io.EOF
		case err == nil:
			continue // n == len(p)
		case tag == nil || !resumable(err) || ctx.Err() != nil:
			// No response at all (the SDK has retried that already), or
			// not a network failure.
			return n, s.readError(key, off, len(p), n, err)
		}
		// The body broke off or stalled: resume from the first missing
		// byte, with backoff, as long as attempts keep making progress.
		if m > 0 {
			failures = 0
		}
		if failures++; failures >= s.maxAttempts {
			return n, s.readError(key, off, len(p), n, fmt.Errorf("giving up after %d attempts: %w", failures, err))
		}
		if err := s.sleep(ctx, failures, err); err != nil {
			return n, objectError(s, "read", key, err)
		}
	}
	return n, nil
}

// readError describes a failed read of size bytes at off that got n.
func (s *S3) readError(key string, off int64, size, n int, err error) error {
	if n > 0 {
		err = fmt.Errorf("got %d bytes, then: %w", n, err)
	}
	return objectError(s, "read", key, fmt.Errorf("%s: %w", rangeString(off, size), err))
}

// getRange reads up to len(p) bytes at off into p with one GetObject. It
// returns eof when the object ends before p is full (or before off), and
// the object's ETag, which is nil only if the request got no response.
func (s *S3) getRange(ctx context.Context, key string, p []byte, off int64, ifMatch *string) (n int, eof bool, etag *string, err error) {
	gctx, g := newStallGuard(ctx, s.opts.Timeout)
	defer g.done()
	out, err := s.client.GetObject(gctx, &s3.GetObjectInput{
		Bucket:  &s.bucket,
		Key:     aws.String(s.objectKey(key)),
		Range:   aws.String(fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1)),
		IfMatch: ifMatch,
	})
	if err != nil {
		if apiCode(err) == "InvalidRange" || httpStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			return 0, true, nil, nil // off is at or past the end
		}
		if ifMatch != nil && httpStatus(err) == http.StatusPreconditionFailed {
			return 0, false, nil, fmt.Errorf("the object was replaced while being read (ETag %s changed)", *ifMatch)
		}
		return 0, false, nil, g.cause(s.mapError(err, "s3:GetObject"))
	}
	defer func() { _ = out.Body.Close() }()
	etag = out.ETag
	if etag == nil {
		etag = aws.String("")
	}
	// A server that ignores Range answers 200 with the whole object: fine
	// from offset 0, silent corruption from anywhere else.
	if start, ok := rangeStart(aws.ToString(out.ContentRange)); (ok && start != off) || (!ok && off != 0) {
		return 0, false, etag, fmt.Errorf("the server answered a read at offset %d with Content-Range %q", off, aws.ToString(out.ContentRange))
	}
	want := len(p)
	if out.ContentLength != nil && *out.ContentLength < int64(want) {
		want, eof = int(*out.ContentLength), true
	}
	g.touch()
	for n < want {
		m, err := out.Body.Read(p[n:min(want, n+1<<20)])
		n += m
		g.touch()
		if err == io.EOF {
			if n < want {
				return n, false, etag, g.cause(io.ErrUnexpectedEOF)
			}
			break
		}
		if err != nil {
			return n, false, etag, g.cause(err)
		}
	}
	return n, eof, etag, nil
}

// rangeStart returns the first byte of a Content-Range ("bytes 10-19/100").
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

// resumable reports whether a read that failed with err may go on with a
// new request: the connection broke or stalled, not the request itself.
func resumable(err error) bool {
	var se *StallError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if _, ok := errors.AsType[smithy.APIError](err); ok {
		return false // the server answered; the SDK has retried what it should
	}
	_, isNet := errors.AsType[net.Error](err)
	return isNet || errors.Is(err, syscall.ECONNRESET)
}

// sleep waits before attempt number attempt+1, or until ctx is done.
func (s *S3) sleep(ctx context.Context, attempt int, cause error) error {
	d, err := s.backoff.BackoffDelay(attempt, cause)
	if err != nil {
		d = s.opts.MaxBackoff
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// List implements Store. Keys under the prefix that no Store could address
// (directory markers ending in "/", "a//b") are left out.
func (s *S3) List(ctx context.Context, prefix string) (infos []ObjectInfo, err error) {
	defer func() { s.metrics.request(KindList, err) }()
	if err := validPrefix(prefix); err != nil {
		return nil, objectError(s, "list", prefix, err)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket,
		Prefix: aws.String(s.objectKey(prefix)),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, objectError(s, "list", prefix, s.mapError(err, "s3:ListBucket"))
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || ValidKey(key) != nil {
				continue
			}
			infos = append(infos, ObjectInfo{
				Key:     key,
				Size:    aws.ToInt64(o.Size),
				ModTime: aws.ToTime(o.LastModified),
				ETag:    trimETag(o.ETag),
			})
		}
	}
	return infos, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) (err error) {
	defer func() { s.metrics.request(KindDelete, err) }()
	if err := ValidKey(key); err != nil {
		return objectError(s, "delete", key, err)
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.objectKey(key))})
	if err != nil {
		err = s.mapError(err, "s3:DeleteObject")
		if errors.Is(err, ErrNotExist) {
			return nil
		}
		return objectError(s, "delete", key, err)
	}
	return nil
}

// mapError turns an SDK error into one a caller can act on: ErrNotExist
// for a missing key, ErrExists for a lost conditional write, fs.ErrPermission
// with a hint for denied access, and a named bucket for a missing one. The
// SDK's message (with the request ID) follows, for debugging. action names
// the IAM permission the request needs, for the access-denied hint.
func (s *S3) mapError(err error, action string) error {
	code, status := apiCode(err), httpStatus(err)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case code == "NoSuchBucket":
		return fmt.Errorf("bucket %q does not exist: %w", s.bucket, err)
	case code == "NoSuchUpload":
		return fmt.Errorf("the multipart upload is gone (aborted by another process, or by a lifecycle rule): %w", err)
	case code == "NoSuchKey" || code == "NotFound" || status == http.StatusNotFound:
		return ErrNotExist
	case code == "PreconditionFailed" || status == http.StatusPreconditionFailed:
		return ErrExists
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch":
		return fmt.Errorf("%w: the server rejected the credentials (%s); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE: %w", fs.ErrPermission, code, err)
	case code == "AccessDenied" || status == http.StatusForbidden:
		return fmt.Errorf("%w: access denied to bucket %q; the credentials need %s on it (for a missing key S3 also answers 403 without s3:ListBucket): %w", fs.ErrPermission, s.bucket, action, err)
	case code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" || status == http.StatusMovedPermanently:
		return fmt.Errorf("bucket %q is in another region than %q; set AWS_REGION: %w", s.bucket, s.client.Options().Region, err)
	}
	return err
}

func apiCode(err error) string {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	if re, ok := errors.AsType[interface {
		error
		HTTPStatusCode() int
	}](err); ok {
		return re.HTTPStatusCode()
	}
	return 0
}
