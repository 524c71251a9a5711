package api

// A tail (GET /gradual/workers/{name}/tail) is a stream of NDJSON lines:
// a TailEvent per request, a TailDropped when the client read too slowly
// to get them all, and blank lines as heartbeats.

// TailEvent is one request as a tail client sees it, shaped like
// Cloudflare's Tail Worker trace events.
type TailEvent struct {
	ScriptName     string          `json:"scriptName"`
	ScriptVersion  TailVersion     `json:"scriptVersion"`
	Outcome        string          `json:"outcome"`
	EventTimestamp int64           `json:"eventTimestamp"`
	Event          TailFetchEvent  `json:"event"`
	Logs           []TailLog       `json:"logs"`
	Exceptions     []TailException `json:"exceptions"`
	// Selection says how the version was chosen: "override", "affinity"
	// or "random".
	Selection string `json:"selection"`
	CPUTime   int64  `json:"cpuTime"`
	WallTime  int64  `json:"wallTime"`
}

// TailVersion is the version that served a request.
type TailVersion struct {
	ID      string `json:"id"`
	Tag     string `json:"tag,omitempty"`
	Message string `json:"message,omitempty"`
}

// TailFetchEvent is the request, and the response when there was one.
type TailFetchEvent struct {
	Request  TailRequest   `json:"request"`
	Response *TailResponse `json:"response,omitempty"`
}

// TailRequest is a request with its headers, lowercased, those that carry
// credentials redacted.
type TailRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// TailResponse is the status sent.
type TailResponse struct {
	Status int `json:"status"`
}

// TailLog is one console call of the script. Message holds one string:
// the call's arguments already formatted as the console prints them.
type TailLog struct {
	Level     string   `json:"level"`
	Message   []string `json:"message"`
	Timestamp int64    `json:"timestamp"`
}

// TailException is an exception the script threw.
type TailException struct {
	Name      string `json:"name"`
	Message   string `json:"message"`
	Stack     string `json:"stack,omitempty"`
	Timestamp int64  `json:"timestamp"`
}

// TailDropped tells a client how many events it missed by reading slowly.
// Type is always "dropped", which no TailEvent has.
type TailDropped struct {
	Type           string `json:"type"`
	Dropped        uint64 `json:"dropped"`
	EventTimestamp int64  `json:"eventTimestamp"`
}

// TailDroppedType is the Type of a TailDropped.
const TailDroppedType = "dropped"
