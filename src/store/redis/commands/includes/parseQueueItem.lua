-- An offline queue item is "<id>\n<expiresAtMs>\n<payload>" (Redis time). Items written by older
-- relays are "<id>\n<payload>" (a JSON object, so it starts with '{') and expire with the key.
-- Returns the id, the expiry (nil for the old form) and where the payload starts.
local function parseQueueItem(item)
  local idEnd = string.find(item, '\n', 1, true)
  local id = string.sub(item, 1, idEnd - 1)
  if string.sub(item, idEnd + 1, idEnd + 1) == '{' then
    return id, nil, idEnd + 1
  end
  local expiryEnd = string.find(item, '\n', idEnd + 1, true)
  return id, tonumber(string.sub(item, idEnd + 1, expiryEnd - 1)), expiryEnd + 1
end
