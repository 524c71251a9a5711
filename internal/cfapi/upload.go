package cfapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
)

// Limits bound a multipart version upload. A zero field takes its default.
type Limits struct {
	// MaxParts is the most parts (metadata, modules, source maps) an
	// upload may have. Default 64.
	MaxParts int
	// MaxPartBytes is the largest a single part may be. Default 10 MiB,
	// Workers' limit for a whole Worker.
	MaxPartBytes int64
	// MaxTotalBytes is the largest all parts may be together, source maps
	// included. Default 32 MiB.
	MaxTotalBytes int64
}

// Defaults of Limits.
const (
	DefaultMaxParts      = 64
	DefaultMaxPartBytes  = 10 << 20
	DefaultMaxTotalBytes = 32 << 20
	// maxMetadataBytes bounds the metadata part whatever the limits say:
	// it is decoded as a whole.
	maxMetadataBytes = 1 << 20
	// maxPartOverhead is what each part may add to the body besides its
	// content: its boundary line and headers.
	maxPartOverhead = 16 << 10
	// maxAnnotationBytes bounds workers/message and workers/tag.
	maxAnnotationBytes = 4096
)

func (l Limits) withDefaults() Limits {
	if l.MaxParts <= 0 {
		l.MaxParts = DefaultMaxParts
	}
	if l.MaxPartBytes <= 0 {
		l.MaxPartBytes = DefaultMaxPartBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = DefaultMaxTotalBytes
	}
	return l
}

// ModuleType is what a module part holds, from its Content-Type.
type ModuleType string

// Module types wrangler uploads that a goja host can run or import.
const (
	ModuleESM      ModuleType = "esm"      // application/javascript+module
	ModuleCommonJS ModuleType = "commonjs" // application/javascript
	ModuleText     ModuleType = "text"     // text/plain
	ModuleData     ModuleType = "data"     // application/octet-stream
)

// Module is one module part of an upload.
type Module struct {
	Name    string
	Type    ModuleType
	Content []byte
}

// RateLimit is a ratelimit binding (§10): env.Name.limit({key}).
type RateLimit struct {
	Name        string
	NamespaceID string
	Limit       int
	Period      int // seconds: 10 or 60
}

// ServiceBinding is a service binding (§10): env.Name.fetch() calls the
// Worker named Service.
type ServiceBinding struct {
	Name    string
	Service string
}

// Upload is a version upload decoded from wrangler's multipart body, with
// nothing of Cloudflare's shape left in it.
type Upload struct {
	// MainModule names the entry module, one of Modules.
	MainModule string
	// ServiceWorker is set when the entry is a script in service-worker
	// syntax (metadata body_part) rather than an ES module (main_module).
	ServiceWorker bool
	// Modules holds every module part, the entry included, in body order.
	Modules []Module
	// SourceMaps holds the source maps (application/source-map parts) by
	// part name, which is the module's name plus ".map".
	SourceMaps map[string][]byte

	Vars            map[string]string          // plain_text bindings
	Secrets         map[string]string          // secret_text bindings
	JSON            map[string]json.RawMessage // json bindings
	VersionMetadata string                     // the version_metadata binding's name, if any
	RateLimits      []RateLimit
	Services        []ServiceBinding

	CompatibilityDate  string
	CompatibilityFlags []string
	// KeepBindings lists binding types to carry over from the version
	// deployed now (wrangler versions upload sends secret_text and
	// secret_key, so secrets live on across uploads).
	KeepBindings []string

	Message string // annotation workers/message
	Tag     string // annotation workers/tag
}

// Module returns the module of that name, or nil.
func (u *Upload) Module(name string) *Module {
	for i := range u.Modules {
		if u.Modules[i].Name == name {
			return &u.Modules[i]
		}
	}
	return nil
}

// NodejsCompat reports whether the upload asks for Node.js compatibility.
func (u *Upload) NodejsCompat() bool {
	return slices.Contains(u.CompatibilityFlags, "nodejs_compat") || slices.Contains(u.CompatibilityFlags, "nodejs_compat_v2")
}

// metadata is the JSON of the "metadata" part. Fields wrangler sends that
// change nothing here (logpush, observability, placement, limits,
// tail_consumers, cache_options, capnp_schema) are not decoded.
type metadata struct {
	MainModule         *string           `json:"main_module"`
	BodyPart           *string           `json:"body_part"`
	Bindings           []json.RawMessage `json:"bindings"`
	CompatibilityDate  string            `json:"compatibility_date"`
	CompatibilityFlags []string          `json:"compatibility_flags"`
	KeepBindings       []string          `json:"keep_bindings"`
	Annotations        map[string]string `json:"annotations"`
	Migrations         json.RawMessage   `json:"migrations"`
	Assets             json.RawMessage   `json:"assets"`
	Containers         json.RawMessage   `json:"containers"`
}

type binding struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Text        *string         `json:"text"`
	JSON        json.RawMessage `json:"json"`
	NamespaceID string          `json:"namespace_id"`
	Simple      *struct {
		Limit  int `json:"limit"`
		Period int `json:"period"`
	} `json:"simple"`
	Service     string          `json:"service"`
	Environment string          `json:"environment"`
	Entrypoint  string          `json:"entrypoint"`
	Props       json.RawMessage `json:"props"`
}

var compatDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// ParseUpload decodes a version upload: a multipart/form-data body (its
// request Content-Type in contentType) with a "metadata" JSON part and one
// part per module and source map, within lim. Every error it returns is an
// *Error naming what was refused; the body may have been read partly.
func ParseUpload(body io.Reader, contentType string, lim Limits) (*Upload, error) {
	lim = lim.withDefaults()
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		return nil, Errorf(http.StatusUnsupportedMediaType, CodeBadRequest, "a version upload is multipart/form-data with a boundary, not %q", contentType)
	}
	// Part headers and boundaries are not counted by the part limits;
	// this bounds them with the rest.
	body = &capReader{r: body, n: lim.MaxTotalBytes + int64(lim.MaxParts)*maxPartOverhead}
	mr := multipart.NewReader(body, params["boundary"])

	u := &Upload{SourceMaps: map[string][]byte{}}
	var meta []byte
	seen := map[string]bool{}
	var total int64
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errBodyTooLarge) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the upload is over %d bytes", lim.MaxTotalBytes)
		}
		if err != nil {
			return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "reading the multipart body: %v", err)
		}
		if n == lim.MaxParts {
			return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the upload has more than %d parts", lim.MaxParts)
		}
		name := part.FormName()
		if name == "" {
			return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "part %d has no form-data name", n+1)
		}
		if seen[name] {
			return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "the upload has two parts named %q", name)
		}
		seen[name] = true
		max := min(lim.MaxPartBytes, lim.MaxTotalBytes-total)
		if name == "metadata" {
			max = min(max, maxMetadataBytes)
		}
		content, err := io.ReadAll(io.LimitReader(part, max+1))
		if errors.Is(err, errBodyTooLarge) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the upload is over %d bytes", lim.MaxTotalBytes)
		}
		if err != nil {
			return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "reading part %q: %v", name, err)
		}
		if int64(len(content)) > max {
			switch {
			case name == "metadata" && max == maxMetadataBytes:
				return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the metadata part is over %d bytes", maxMetadataBytes)
			case max == lim.MaxPartBytes:
				return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "part %q is over %d bytes", name, lim.MaxPartBytes)
			default:
				return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the upload is over %d bytes", lim.MaxTotalBytes)
			}
		}
		total += int64(len(content))
		if name == "metadata" {
			meta = content
			continue
		}
		if err := u.addPart(name, part.Header.Get("Content-Type"), content); err != nil {
			return nil, err
		}
	}
	if meta == nil {
		return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "the upload has no metadata part")
	}
	if err := u.applyMetadata(meta); err != nil {
		return nil, err
	}
	return u, nil
}

// addPart files a module or source map part by its Content-Type.
func (u *Upload) addPart(name, contentType string, content []byte) error {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil && contentType != "" {
		return Errorf(http.StatusBadRequest, CodeBadRequest, "part %q has a malformed Content-Type %q", name, contentType)
	}
	var typ ModuleType
	switch mediaType {
	case "application/javascript+module":
		typ = ModuleESM
	case "application/javascript", "text/javascript":
		typ = ModuleCommonJS
	case "text/plain":
		typ = ModuleText
	case "application/octet-stream":
		typ = ModuleData
	case "application/source-map":
		u.SourceMaps[name] = content
		return nil
	case "application/wasm":
		return Errorf(http.StatusBadRequest, CodeUnsupported, "part %q is a WebAssembly module: WebAssembly is not supported", name)
	case "text/x-python", "text/x-python-requirement":
		return Errorf(http.StatusBadRequest, CodeUnsupported, "part %q is Python: Python Workers are not supported", name)
	case "":
		return Errorf(http.StatusBadRequest, CodeBadRequest, "part %q has no Content-Type", name)
	default:
		return Errorf(http.StatusBadRequest, CodeUnsupported, "part %q has Content-Type %q, which is not a supported module type", name, mediaType)
	}
	u.Modules = append(u.Modules, Module{Name: name, Type: typ, Content: content})
	return nil
}

// applyMetadata decodes the metadata part into u, whose parts are all read.
func (u *Upload) applyMetadata(raw []byte) error {
	if key, ok := duplicateKey(raw); ok {
		return Errorf(http.StatusBadRequest, CodeBadRequest, "metadata has %q twice", key)
	}
	var m metadata
	if err := json.Unmarshal(raw, &m); err != nil {
		return Errorf(http.StatusBadRequest, CodeBadRequest, "metadata is not valid: %v", err)
	}
	switch {
	case m.MainModule != nil && m.BodyPart != nil:
		return Errorf(http.StatusBadRequest, CodeBadRequest, "metadata has both main_module and body_part")
	case m.MainModule != nil:
		u.MainModule = *m.MainModule
		mod := u.Module(u.MainModule)
		if mod == nil {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "main_module %q is not a part of the upload", u.MainModule)
		}
		if mod.Type != ModuleESM && mod.Type != ModuleCommonJS {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "main_module %q is %s, not JavaScript", u.MainModule, mod.Type)
		}
	case m.BodyPart != nil:
		u.MainModule, u.ServiceWorker = *m.BodyPart, true
		mod := u.Module(u.MainModule)
		if mod == nil {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "body_part %q is not a part of the upload", u.MainModule)
		}
		if mod.Type != ModuleCommonJS {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "body_part %q is %s, not a script (application/javascript)", u.MainModule, mod.Type)
		}
		if len(u.Modules) > 1 {
			return Errorf(http.StatusBadRequest, CodeUnsupported, "a service-worker script (body_part) cannot have other modules")
		}
	default:
		return Errorf(http.StatusBadRequest, CodeBadRequest, "metadata names no main_module")
	}
	if len(m.Migrations) > 0 && string(m.Migrations) != "null" {
		return Errorf(http.StatusBadRequest, CodeUnsupported, "Durable Object migrations are not supported")
	}
	if len(m.Assets) > 0 && string(m.Assets) != "null" {
		return Errorf(http.StatusBadRequest, CodeUnsupported, "static assets are not supported")
	}
	if len(m.Containers) > 0 && string(m.Containers) != "null" && string(m.Containers) != "[]" {
		return Errorf(http.StatusBadRequest, CodeUnsupported, "Containers are not supported")
	}
	if m.CompatibilityDate != "" && !compatDate.MatchString(m.CompatibilityDate) {
		return Errorf(http.StatusBadRequest, CodeBadRequest, "compatibility_date %q is not YYYY-MM-DD", m.CompatibilityDate)
	}
	u.CompatibilityDate = m.CompatibilityDate
	u.CompatibilityFlags = m.CompatibilityFlags
	u.KeepBindings = m.KeepBindings
	u.Message = m.Annotations["workers/message"]
	u.Tag = m.Annotations["workers/tag"]
	if len(u.Message) > maxAnnotationBytes || len(u.Tag) > maxAnnotationBytes {
		return Errorf(http.StatusBadRequest, CodeTooLarge, "annotations workers/message and workers/tag are limited to %d bytes", maxAnnotationBytes)
	}
	names := map[string]bool{}
	for _, raw := range m.Bindings {
		var b binding
		if err := json.Unmarshal(raw, &b); err != nil {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "a binding is not valid: %v", err)
		}
		if b.Name == "" {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "a binding of type %q has no name", b.Type)
		}
		if names[b.Name] {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "two bindings are named %q", b.Name)
		}
		names[b.Name] = true
		if err := u.addBinding(b); err != nil {
			return err
		}
	}
	return nil
}

// addBinding files one binding of a supported type, or names the type it
// refuses.
func (u *Upload) addBinding(b binding) error {
	switch b.Type {
	case "plain_text", "secret_text":
		if b.Text == nil {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "binding %q (%s) has no text", b.Name, b.Type)
		}
		if b.Type == "plain_text" {
			setKey(&u.Vars, b.Name, *b.Text)
		} else {
			setKey(&u.Secrets, b.Name, *b.Text)
		}
	case "json":
		if len(b.JSON) == 0 {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "binding %q (json) has no json", b.Name)
		}
		setKey(&u.JSON, b.Name, b.JSON)
	case "version_metadata":
		if u.VersionMetadata != "" {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "there are two version_metadata bindings, %q and %q", u.VersionMetadata, b.Name)
		}
		u.VersionMetadata = b.Name
	case "ratelimit":
		if b.Simple == nil || b.Simple.Limit <= 0 || (b.Simple.Period != 10 && b.Simple.Period != 60) {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "ratelimit binding %q needs simple.limit > 0 and simple.period 10 or 60", b.Name)
		}
		u.RateLimits = append(u.RateLimits, RateLimit{Name: b.Name, NamespaceID: b.NamespaceID, Limit: b.Simple.Limit, Period: b.Simple.Period})
	case "service":
		switch {
		case b.Service == "":
			return Errorf(http.StatusBadRequest, CodeBadRequest, "service binding %q names no service", b.Name)
		case b.Entrypoint != "" || (len(b.Props) > 0 && string(b.Props) != "null"):
			return Errorf(http.StatusBadRequest, CodeUnsupported, "service binding %q: named entrypoints and props are not supported", b.Name)
		case b.Environment != "" && b.Environment != "production":
			return Errorf(http.StatusBadRequest, CodeUnsupported, "service binding %q: service environments are not supported", b.Name)
		}
		u.Services = append(u.Services, ServiceBinding{Name: b.Name, Service: b.Service})
	case "":
		return Errorf(http.StatusBadRequest, CodeBadRequest, "binding %q has no type", b.Name)
	default:
		return Errorf(http.StatusBadRequest, CodeUnsupported, "binding %q has type %q, which is not supported (supported: plain_text, secret_text, json, version_metadata, ratelimit, service)", b.Name, b.Type)
	}
	return nil
}

var errBodyTooLarge = errors.New("body too large")

// capReader reads at most n bytes from r and then fails with
// errBodyTooLarge rather than io.EOF, so a body cut short by the cap is
// not mistaken for a malformed one.
type capReader struct {
	r io.Reader
	n int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

func setKey[V any](m *map[string]V, k string, v V) {
	if *m == nil {
		*m = map[string]V{}
	}
	(*m)[k] = v
}

// duplicateKey reports a key that a JSON object has twice at its top
// level, which encoding/json would silently resolve to the last.
func duplicateKey(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	keys := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		if keys[key] {
			return key, true
		}
		keys[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}
