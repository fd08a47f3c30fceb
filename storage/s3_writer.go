package storage

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Create implements Store. The writer sends parts with the context given
// here, and Commit completes the upload with its own.
func (s *S3) Create(ctx context.Context, key string, opts CreateOptions) (w Writer, err error) {
	defer func() { s.metrics.request(KindCreate, err) }()
	if err := ValidKey(key); err != nil {
		return nil, objectError(s, "create", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, objectError(s, "create", key, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	return &s3Writer{
		s:      s,
		ctx:    wctx,
		parent: ctx,
		cancel: cancel,
		key:    key,
		opts:   opts,
		sem:    make(chan struct{}, s.opts.UploadConcurrency),
	}, nil
}

// s3Writer buffers one part. When the part is full and more bytes come, it
// starts a multipart upload (once) and sends the part in the background,
// at most UploadConcurrency at a time; Write blocks while that many are in
// flight, which bounds the memory. A writer that never fills a part sends
// its bytes as one PutObject at Commit.
type s3Writer struct {
	s      *S3
	ctx    context.Context // Create's, cancelled by Abort or a failed Commit
	parent context.Context // Create's, to tell the caller's cancellation from ours
	cancel context.CancelFunc
	key    string
	opts   CreateOptions

	buf      []byte // the part being filled
	uploadID *string
	nextPart int32
	sem      chan struct{}
	wg       sync.WaitGroup

	mu    sync.Mutex
	parts []types.CompletedPart
	upErr error // the first failed part

	done, committed bool
	err             error // sticky write error
}

func (w *s3Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, objectError(w.s, "write", w.key, errClosed)
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.parent.Err(); err != nil {
		return 0, objectError(w.s, "write", w.key, err)
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == w.s.opts.PartSize {
			if err := w.flush(); err != nil {
				w.err = objectError(w.s, "write", w.key, err)
				w.s.metrics.written(n)
				return n, w.err
			}
		}
		k := min(len(p), w.s.opts.PartSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		n += k
	}
	w.s.metrics.written(n)
	return n, nil
}

// flush sends the buffered part in the background.
func (w *s3Writer) flush() error {
	if err := w.partError(); err != nil {
		return err
	}
	if w.uploadID == nil {
		out, err := w.s.client.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{
			Bucket:            &w.s.bucket,
			Key:               aws.String(w.s.objectKey(w.key)),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return fmt.Errorf("starting the multipart upload: %w", w.s.mapError(err, "s3:PutObject"))
		}
		w.uploadID = out.UploadId
	}
	if w.nextPart >= maxParts {
		return fmt.Errorf("object exceeds S3's %d parts of %d bytes; raise S3Options.PartSize", maxParts, w.s.opts.PartSize)
	}
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
	w.nextPart++
	num, data := w.nextPart, w.buf
	w.buf = w.s.getBuf()
	w.wg.Go(func() {
		part, err := w.uploadPart(num, data)
		w.s.putBuf(data)
		<-w.sem
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			if w.upErr == nil {
				w.upErr = fmt.Errorf("part %d: %w", num, err)
			}
			return
		}
		w.parts = append(w.parts, part)
	})
	return nil
}

func (w *s3Writer) partError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.upErr
}

func (w *s3Writer) uploadPart(num int32, data []byte) (types.CompletedPart, error) {
	var out *s3.UploadPartOutput
	err := w.s.guarded(w.ctx, func(ctx context.Context, g *stallGuard) (err error) {
		out, err = w.s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            &w.s.bucket,
			Key:               aws.String(w.s.objectKey(w.key)),
			UploadId:          w.uploadID,
			PartNumber:        aws.Int32(num),
			Body:              &guardedBody{r: bytes.NewReader(data), g: g},
			ContentLength:     aws.Int64(int64(len(data))),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		return err
	})
	if err != nil {
		return types.CompletedPart{}, w.s.mapError(err, "s3:PutObject")
	}
	return types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}, nil
}

func (w *s3Writer) Commit(ctx context.Context) (err error) {
	defer func() { w.s.metrics.request(KindCommit, err) }()
	if w.done {
		return objectError(w.s, "commit", w.key, errClosed)
	}
	w.done = true
	if err := w.commit(ctx); err != nil {
		// Leave nothing behind, even if ctx is what failed.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.s.opts.Timeout)
		defer cancel()
		_ = w.cleanup(cctx)
		return objectError(w.s, "commit", w.key, err)
	}
	w.committed = true
	w.cancel()
	return nil
}

func (w *s3Writer) commit(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	if err := errors.Join(w.parent.Err(), ctx.Err()); err != nil {
		return err
	}
	var ifNoneMatch *string
	if w.opts.IfAbsent {
		ifNoneMatch = aws.String("*")
	}
	if w.uploadID == nil {
		data := w.buf
		w.buf = nil
		err := w.s.guarded(ctx, func(ctx context.Context, g *stallGuard) error {
			_, err := w.s.client.PutObject(ctx, &s3.PutObjectInput{
				Bucket:        &w.s.bucket,
				Key:           aws.String(w.s.objectKey(w.key)),
				Body:          &guardedBody{r: bytes.NewReader(data), g: g},
				ContentLength: aws.Int64(int64(len(data))),
				IfNoneMatch:   ifNoneMatch,
			})
			return err
		})
		return w.s.mapError(err, "s3:PutObject")
	}
	// The last part: never empty, since a full part is only sent when
	// more bytes follow it.
	if err := w.flush(); err != nil {
		return err
	}
	w.wg.Wait()
	if err := w.partError(); err != nil {
		return err
	}
	slices.SortFunc(w.parts, func(a, b types.CompletedPart) int { return cmp.Compare(*a.PartNumber, *b.PartNumber) })
	_, err := w.s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &w.s.bucket,
		Key:             aws.String(w.s.objectKey(w.key)),
		UploadId:        w.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
		IfNoneMatch:     ifNoneMatch,
	})
	if err != nil {
		return w.s.mapError(err, "s3:PutObject")
	}
	w.uploadID = nil // completed: nothing to abort
	return nil
}

func (w *s3Writer) Abort(ctx context.Context) (err error) {
	if w.committed || w.done {
		return nil
	}
	defer func() { w.s.metrics.request(KindAbort, err) }()
	w.done = true
	if err := w.cleanup(ctx); err != nil {
		return objectError(w.s, "abort", w.key, err)
	}
	return nil
}

// cleanup stops the part uploads and aborts the multipart upload, if any.
func (w *s3Writer) cleanup(ctx context.Context) error {
	w.cancel()
	w.wg.Wait()
	w.buf = nil
	if w.uploadID == nil {
		return nil
	}
	_, err := w.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   &w.s.bucket,
		Key:      aws.String(w.s.objectKey(w.key)),
		UploadId: w.uploadID,
	})
	if err != nil && apiCode(err) != "NoSuchUpload" { // gone already is fine
		return w.s.mapError(err, "s3:AbortMultipartUpload")
	}
	w.uploadID = nil
	return nil
}

func (s *S3) getBuf() []byte { return (*s.partPool.Get().(*[]byte))[:0] }

func (s *S3) putBuf(b []byte) {
	if cap(b) >= s.opts.PartSize {
		s.partPool.Put(&b)
	}
}

// guarded runs an upload op under a stall guard, and runs it again (with
// backoff) when the guard fired, up to the store's attempts. Other errors
// are the SDK retryer's business and are returned as they are.
func (s *S3) guarded(ctx context.Context, op func(context.Context, *stallGuard) error) error {
	for attempt := 1; ; attempt++ {
		gctx, g := newStallGuard(ctx, s.opts.Timeout)
		err := g.cause(op(gctx, g))
		g.done()
		var se *StallError
		if !errors.As(err, &se) || ctx.Err() != nil {
			return err
		}
		if attempt >= s.maxAttempts {
			return fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		if err := s.sleep(ctx, attempt, err); err != nil {
			return err
		}
	}
}

// guardedBody is an upload body that keeps a stall guard armed while the
// HTTP transport consumes it: if the server stops taking bytes, the next
// Read does not come and the guard fires. It deliberately has no WriteTo
// (bytes.Reader's would hand the transport everything at once, unwatched).
type guardedBody struct {
	r *bytes.Reader
	g *stallGuard
}

func (b *guardedBody) Read(p []byte) (int, error) {
	b.g.touch()
	n, err := b.r.Read(p)
	if err != nil {
		// The body is sent: waiting for the answer is the transport's
		// response-header timeout's job.
		b.g.pause()
	}
	return n, err
}

// Seek lets the SDK measure, checksum and rewind the body for a retry.
func (b *guardedBody) Seek(offset int64, whence int) (int64, error) {
	b.g.pause()
	return b.r.Seek(offset, whence)
}
