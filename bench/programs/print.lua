-- One million lines of output, for a pipe.
local i = 0
while i < 1000000 do
    print(i)
    i = i + 1
end
