--- `mobilellm serve DIR`: an OpenAI-compatible HTTP server for the model (`mobilellm.server`),
-- on 127.0.0.1:8080 by default, with the flags of llama.cpp's llama-server (`--host`, `--port`,
-- `--parallel`, `--ctx-size`).
-- @module mobilellm.cli.serve
local chat_template = require("mobilellm.chat_template")
local common = require("mobilellm.cli.common")

local M = {
  name = "serve", args = { "DIR" }, defaults = { max_tokens = 256, host = "127.0.0.1", port = 8080, parallel = 1 },
  brief = "an OpenAI-compatible HTTP server (POST /v1/chat/completions)",
  summary = "Serve the model over HTTP with OpenAI's chat completions API: POST /v1/chat/completions "
    .. "(streamed with server-sent events or not; OpenAI function tools come back as tool_calls), "
    .. "GET /v1/models, GET /health. Ctrl-C (SIGINT) or SIGTERM stops it.",
  details = "The prompt is in the model's own format, as for chat: a tool-calling model (DIR/apis.json) "
    .. "or one without a chat template in the format of mobilellm.chat, with the request's tools as its "
    .. "tool list and the calls constrained; another checkpoint in its chat template. --parallel N "
    .. "sessions answer N requests side by side, each generating on a thread of its own; more wait in a "
    .. "queue. Listening "
    .. "on another address than 127.0.0.1 lets other machines use the model: there is no authentication. "
    .. "--port 0 picks a free port. The address is printed on standard error once the server listens. "
    .. "docs/server.md lists the fields and the limits.",
  options = common.concat_opts({
    { "host", "ADDR", kind = "str", help = "address to listen on (default %s)" },
    { "port", "N", kind = "int", min = 0, max = 65535, help = "port to listen on (default %s; 0: a free one)" },
    { "parallel", "N", kind = "int", min = 1, max = 64, help = "sessions answering at once (default %s)" },
    { "ctx-size", "N", kind = "int", min = 1, max = 131072, help = "context length of each session "
      .. "(default: the model's)" },
    { "batch-size", "N", kind = "int", min = 1, max = 4096, help = "prompt tokens evaluated at once "
      .. "(default 64)" },
    { "max-tokens", "N", kind = "int", min = 1, max = 131072, help = "a request's max_tokens when it "
      .. "gives none (default %s)" },
    { "alias", "NAME", kind = "str", help = "the model's id in the API (default: DIR's name)" },
    { "kv-type", "T", kind = "choice", values = common.GEN_OPTS[#common.GEN_OPTS].values,
      help = "KV cache element: f32 or f16 (default: f16 for q8/q4)" },
  }, common.LOAD_OPTS),
}

--- Runs the command: serves until SIGINT or SIGTERM.
-- @tparam table ctx the run's context (`mobilellm.cli.common`)
-- @tparam table opts its options (`mobilellm.cli.args`)
-- @tparam {string,...} pos its positional arguments
-- @treturn integer the exit status
function M.run(ctx, opts, pos)
  local ok_luv, server = pcall(require, "mobilellm.server")
  if not ok_luv then
    common.fail("serve needs luv (Debian: apt-get install lua-luv): " .. tostring(server):gsub("\n.*", ""))
  end
  local dir = common.model_dir(pos[1])
  local template
  if not common.find_apis({}, dir) then -- as chat chooses: a tool-calling model keeps mobilellm.chat's format
    local terr
    template, terr = chat_template.find(dir)
    if terr then common.fail(terr) end
  end
  local model = common.load_model(ctx, dir, opts)
  common.need_tokenizer(model, dir, "serve")
  local name = opts.alias or dir:gsub("/+$", ""):match("([^/]+)$") or dir
  local srv, err = server.new(model, { dir = dir, name = name, template = template, parallel = opts.parallel,
                                       n_ctx = opts.ctx_size, kv_type = opts.kv_type, batch = opts.batch_size,
                                       max_tokens = opts.max_tokens })
  if not srv then common.fail(err) end
  local host, port = srv:listen(opts.host or M.defaults.host, opts.port or M.defaults.port)
  if not host then
    srv:close()
    common.fail(port)
  end
  ctx.err:write(string.format("%s serve: listening on http://%s:%d (model %s, %d session%s of %d tokens)\n",
    common.PROG, host, port, name, opts.parallel or 1, (opts.parallel or 1) > 1 and "s" or "", srv.n_ctx))
  ctx.err:flush()
  srv:run()
  srv:close()
  return 0
end

return M
