-- String building: 500,000 lines, each built from a dozen pieces; the total length, a checksum of
-- bytes, how many lines sort before the one before them, and the last line.
local total = 0
local check = 0
local smaller = 0
local last = ""
local i = 0
while i < 500000 do
    local line = "item " .. tostring(i) .. ":"
    local j = 1
    while j <= 5 do
        line = line .. " " .. tostring(i * j % 1009)
        j = j + 1
    end
    total = total + #line
    check = (check * 31 + string.byte(line, #line - 1)) % 1000000007
    if line < last then
        smaller = smaller + 1
    end
    last = line
    i = i + 1
end
print("total " .. total)
print("check " .. check)
print("smaller " .. smaller)
print(last)
