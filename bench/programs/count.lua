-- Counts to 100,000,000.
local i = 0
while i < 100000000 do
    i = i + 1
end
print(i)
