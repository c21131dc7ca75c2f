package teleop

import (
	"net/http"
	"strings"
)

// requestSchemas are the request bodies the API takes, as JSON Schema.
func requestSchemas() map[string]any {
	return map[string]any{
		"TargetsRequest": map[string]any{
			"type": "object", "required": []string{"targets"}, "additionalProperties": false,
			"properties": map[string]any{"targets": map[string]any{
				"type": "object", "description": "joint name → position in radians, inside the joint's limits",
				"additionalProperties": map[string]any{"type": "number"}}},
		},
		"ClaimRequest": map[string]any{
			"type": "object", "required": []string{"name"}, "additionalProperties": false,
			"properties": map[string]any{
				"name":  map[string]any{"type": "string", "minLength": 1, "maxLength": 64},
				"force": map[string]any{"type": "boolean"}},
		},
		"JogRequest": map[string]any{
			"type": "object", "required": []string{"velocities"}, "additionalProperties": false,
			"properties": map[string]any{"velocities": map[string]any{
				"type": "object", "description": "joint name → velocity in rad/s, within the joint's velocity limit",
				"additionalProperties": map[string]any{"type": "number"}}},
		},
	}
}

// openapiDoc builds the OpenAPI 3.1 document from the registered routes, so
// it always matches the code.
func (s *Server) openapiDoc() map[string]any {
	paths := map[string]any{}
	for _, rt := range s.routes {
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		op := map[string]any{
			"summary": rt.summary,
			"responses": map[string]any{
				"200": map[string]any{"description": "OK"},
				"400": map[string]any{"description": "bad input", "content": errorContent()},
				"401": map[string]any{"description": "missing or wrong token", "content": errorContent()},
			},
		}
		if strings.Contains(rt.path, "{") {
			var params []any
			for _, part := range strings.Split(rt.path, "/") {
				if strings.HasPrefix(part, "{") {
					params = append(params, map[string]any{"name": strings.Trim(part, "{}"), "in": "path", "required": true,
						"schema": map[string]any{"type": "string"}})
				}
			}
			op["parameters"] = params
		}
		if rt.body != "" {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + rt.body}}}}
		}
		if rt.path == "/api/health" {
			op["security"] = []any{}
		}
		item[strings.ToLower(rt.method)] = op
	}
	schemas := map[string]any{"Error": map[string]any{"type": "object", "required": []string{"error"},
		"properties": map[string]any{"error": map[string]any{"type": "string"}}}}
	for k, v := range requestSchemas() {
		schemas[k] = v
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": "anther robot daemon", "version": "1", "description": "Robot " + s.desc.Name},
		"paths":   paths,
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
		"security": []any{map[string]any{"bearer": []any{}}},
	}
}

// errorContent is the OpenAPI content of an error reply.
func errorContent() map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}
}

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.openapiDoc())
}
